/* GraphiQL for the clinic availability API: token field, example operations. */
(function () {
  "use strict";

  var TOKEN_KEY = "clinic-availability.admin-token";
  var config = JSON.parse(document.getElementById("explorer-config").textContent);
  var h = React.createElement;
  var tokenInput = document.getElementById("admin-token");
  var forgetButton = document.getElementById("forget-token");
  var tokenState = document.getElementById("token-state");
  var tokenHelp = document.getElementById("token-help");
  var liveHint = document.getElementById("live-hint");
  // The token the server last refused (UNAUTHENTICATED), until another one is entered.
  var refusedToken = "";

  function loadToken() {
    try {
      return window.localStorage.getItem(TOKEN_KEY) || "";
    } catch (error) {
      return "";
    }
  }

  function storeToken(value) {
    try {
      if (value) {
        window.localStorage.setItem(TOKEN_KEY, value);
      } else {
        window.localStorage.removeItem(TOKEN_KEY);
      }
    } catch (error) {
      /* storage disabled: the token still works for this page */
    }
  }

  // serve --demo prints a GraphiQL address carrying the token in its fragment, which
  // browsers never send to the server: take it, keep it, and clear it from the address bar.
  function tokenFromFragment() {
    var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
    if (!match) {
      return "";
    }
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
    try {
      return decodeURIComponent(match[1]).trim();
    } catch (error) {
      return "";
    }
  }

  var token = tokenFromFragment();
  if (token) {
    storeToken(token);
  } else {
    token = loadToken();
  }

  function firstVisit() {
    try {
      return !window.localStorage.getItem("graphiql:tabState");
    } catch (error) {
      return true;
    }
  }

  function showTokenState() {
    var refused = token && token === refusedToken;
    if (refused) {
      tokenState.textContent = "token refused";
      tokenState.className = "token-state token-refused";
    } else {
      tokenState.textContent = token ? "token set" : "no token: queries answer UNAUTHENTICATED";
      tokenState.className = token ? "token-state token-set" : "token-state";
    }
    tokenHelp.hidden = !refused;
  }

  // A refused token still gets HTTP 200 (a GraphQL error): read the answer's code.
  function noticeRefusal(result) {
    var errors = (result && result.errors) || [];
    var refused = errors.some(function (error) {
      return error && error.extensions && error.extensions.code === "UNAUTHENTICATED";
    });
    if (refused && token) {
      refusedToken = token;
      showTokenState();
    } else if (!refused && token && refusedToken === token && result && result.data) {
      refusedToken = "";
      showTokenState();
    }
    return result;
  }

  function fetcher(params, options) {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    var extra = (options && options.headers) || {};
    Object.keys(extra).forEach(function (name) {
      headers[name] = extra[name];
    });
    if (token) {
      headers["X-User-Token"] = token;
    }
    return fetch(config.endpoint, {
      method: "POST",
      headers: headers,
      body: JSON.stringify(params),
      credentials: "same-origin",
    }).then(function (response) {
      return response.text().then(function (body) {
        try {
          return noticeRefusal(JSON.parse(body));
        } catch (error) {
          return { errors: [{ message: "HTTP " + response.status + ": " + body.slice(0, 500) }] };
        }
      });
    });
  }

  function withoutComments(query) {
    return (query || "").replace(/#[^\n]*/g, "");
  }

  /* GraphiQL learns a tab's operation name from its editor a moment after a change, so a
     Run right after switching tabs can carry the previous tab's name. A name the document
     does not define is replaced by the document's only named operation, or dropped. */
  function settleOperationName(params) {
    if (!params.operationName) {
      return params;
    }
    var names = [];
    var pattern = /\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/g;
    var text = withoutComments(params.query);
    var match;
    while ((match = pattern.exec(text)) !== null) {
      names.push(match[1]);
    }
    if (names.indexOf(params.operationName) >= 0 || names.length > 1) {
      return params;
    }
    var settled = Object.assign({}, params);
    settled.operationName = names.length === 1 ? names[0] : null;
    return settled;
  }

  function isSubscription(params) {
    var text = withoutComments(params.query);
    if (params.operationName) {
      return new RegExp("subscription\\s+" + params.operationName + "\\b").test(text);
    }
    return /^\s*subscription\b/.test(text);
  }

  function showLiveHint(visible) {
    liveHint.hidden = !visible;
  }

  /* Subscriptions over graphql-transport-ws; the token goes in connection_init. */
  function subscribe(params) {
    return {
      subscribe: function (observer) {
        showLiveHint(true);
        var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
        var socket = new WebSocket(scheme + window.location.host + config.endpoint, "graphql-transport-ws");
        var finished = false;
        function finish() {
          showLiveHint(false);
          if (!finished) {
            finished = true;
            if (observer.complete) {
              observer.complete();
            }
          }
        }
        socket.onopen = function () {
          socket.send(JSON.stringify({ type: "connection_init", payload: { "X-User-Token": token } }));
        };
        socket.onmessage = function (message) {
          var data = JSON.parse(message.data);
          if (data.type === "connection_ack") {
            socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: params }));
          } else if (data.type === "ping") {
            socket.send(JSON.stringify({ type: "pong" }));
          } else if (data.type === "next") {
            showLiveHint(false);
            observer.next(data.payload);
          } else if (data.type === "error") {
            observer.next(noticeRefusal({ errors: data.payload }));
            finish();
          } else if (data.type === "complete") {
            finish();
          }
        };
        socket.onclose = function (event) {
          if (!finished && event.code !== 1000) {
            observer.next({ errors: [{ message: "socket closed " + event.code + ": " + event.reason }] });
          }
          finish();
        };
        return {
          unsubscribe: function () {
            showLiveHint(false);
            finished = true;
            if (socket.readyState === WebSocket.OPEN) {
              socket.send(JSON.stringify({ id: "1", type: "complete" }));
            }
            socket.close(1000);
          },
        };
      },
    };
  }

  function ExamplesIcon() {
    return h(
      "svg",
      { viewBox: "0 0 24 24", fill: "none", stroke: "currentColor", strokeWidth: 1.5, "aria-hidden": "true" },
      h("path", { d: "M4 6h16M4 12h16M4 18h10" })
    );
  }

  // An example opens in a tab of its own (the one it already has, if still unedited), so
  // the work in the current tab is never overwritten.
  function openExample(editors, example) {
    var tabs = editors.tabs || [];
    for (var index = 0; index < tabs.length; index++) {
      if (tabs[index].query === example.query && tabs[index].variables === example.variables) {
        editors.changeTab(index);
        return;
      }
    }
    editors.addTab();
    window.setTimeout(function () {
      if (editors.queryEditor) {
        editors.queryEditor.setValue(example.query);
      }
      if (editors.variableEditor) {
        editors.variableEditor.setValue(example.variables);
      }
    }, 0);
  }

  function ExamplesPanel() {
    var editors = GraphiQL.React.useEditorContext({ nonNull: true });
    return h(
      "div",
      { className: "explorer-examples" },
      h("div", { className: "graphiql-doc-explorer-title" }, "Examples"),
      h("p", null, "Load an operation into the editor, adjust its variables, then run it."),
      config.examples.map(function (example) {
        return h(
          "button",
          {
            key: example.name,
            type: "button",
            className: "explorer-example",
            "data-example": example.name,
            onClick: function () {
              openExample(editors, example);
            },
          },
          h("strong", null, example.title),
          h("span", null, example.description)
        );
      })
    );
  }

  var examplesPlugin = { title: "Examples", icon: ExamplesIcon, content: ExamplesPanel };
  var defaultTabs = config.examples.map(function (example) {
    return { query: example.query, variables: example.variables };
  });
  // On a first visit the active tab's editors start from the props, not from the tab:
  // hand GraphiQL the first example so Run sends its variables.
  var initial = firstVisit() && config.examples.length ? config.examples[0] : null;
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));

  function render() {
    root.render(
      h(GraphiQL, {
        // A new fetcher makes GraphiQL load the schema again with the new token.
        fetcher: function (params, options) {
          params = settleOperationName(params);
          return isSubscription(params) ? subscribe(params) : fetcher(params, options);
        },
        // Introspection is for admins: with no token there is no schema to load (null
        // tells GraphiQL not to ask); once a token is entered, undefined makes it ask.
        schema: token ? undefined : null,
        defaultTabs: defaultTabs,
        query: initial ? initial.query : undefined,
        variables: initial ? initial.variables : undefined,
        plugins: [examplesPlugin],
        visiblePlugin: examplesPlugin,
        defaultEditorToolsVisibility: "variables",
        shouldPersistHeaders: false,
      })
    );
  }

  tokenInput.value = token;
  tokenInput.addEventListener("input", function () {
    token = tokenInput.value.trim();
    storeToken(token);
    showTokenState();
  });
  tokenInput.addEventListener("change", render);
  forgetButton.addEventListener("click", function () {
    tokenInput.value = "";
    token = "";
    storeToken("");
    showTokenState();
    render();
  });
  showTokenState();
  render();
})();
