// The API page: Swagger UI over the document next to it (v1/openapi.json), under whatever stage prefix the API has.
// A file, not an inline script: the pages' Content-Security-Policy runs their own scripts only. "Authorize" takes the
// x-api-key once; the browser keeps it for this page.
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#ui",
  persistAuthorization: true,
  tryItOutEnabled: true,
  deepLinking: true,
});
