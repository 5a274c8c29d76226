// The API page: Swagger UI over the document next to it (v1/openapi.json), under whatever stage prefix the API has.
// A file, not an inline script: the pages' Content-Security-Policy runs their own scripts only. "Authorize" takes a
// credential for this page's life only: persisting it would put it in localStorage, where the dashboard keeps nothing.
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#ui",
  persistAuthorization: false,
  tryItOutEnabled: true,
  deepLinking: true,
});
