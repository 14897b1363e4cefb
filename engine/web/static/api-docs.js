// The JSON API's documentation page: Swagger UI (served by the console) over FastAPI's OpenAPI document.
"use strict";
window.addEventListener("load", function () {
  window.ui = window.SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui" });
});
