"use strict";
// Swagger UI's initialiser, in a file of its own: the Content-Security-Policy runs no inline script.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // No "validator" badge: it would send the schema to validator.swagger.io.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
