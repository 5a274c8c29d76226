"""The domain errors the logic raises; the serve function maps each to its HTTP answer, in one place."""


class BadRequest(ValueError):
    """A parameter or body the API cannot answer: says what is wrong (400)."""


class UnknownMetric(LookupError):
    """No metric of that name in the catalog (404)."""


class TooLarge(ValueError):
    """A body or a batch of events over the API's limits (413)."""


class NotFound(LookupError):
    """No such thing (a channel, subscription or alert rule) (404)."""


class Conflict(ValueError):
    """The name is taken, or the thing is in use (409)."""
