/* Swagger UI over the service's own OpenAPI document; nothing is fetched elsewhere. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("docs-config").textContent);
  window.ui = SwaggerUIBundle({
    spec: config.spec,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // The default sends the document to an online validator for a badge.
    validatorUrl: null,
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
    showExtensions: false,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
})();
