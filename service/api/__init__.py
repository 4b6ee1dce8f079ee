"""The HTTP surface: the app factory (``service.api.app``), one router per resource
(``service.api.routes``), request/response schemas, pages and the widget's static files."""
