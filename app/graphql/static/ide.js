// Starts GraphiQL on this server's /graphql (see app/graphql/ide.py). A file rather than an
// inline script, so that the page's Content-Security-Policy allows scripts from 'self' only.
(function () {
  "use strict";

  // The `<style>` elements GraphiQL's dialogs add (react-remove-scroll, bundled in
  // graphiql.min.js) carry this nonce, which the page's style-src allows. The bundle reads
  // it from webpack's global of that name when a dialog opens.
  window.__webpack_nonce__ = document.currentScript.nonce;

  var PREFIX = "graphiql:";
  var PERSIST_HEADERS = PREFIX + "shouldPersistHeaders";
  // The stored lists of past operations, by key, and the name of the list in the value.
  var OPERATION_LISTS = { "graphiql:queries": "queries", "graphiql:favorites": "favorites" };

  // GraphiQL's history stores each operation with its headers (the bearer token) in
  // localStorage even while "Persist headers" is off. This storage drops them there unless
  // the user has turned that setting on; a value it cannot read is not stored at all.
  function storable(key, value) {
    var list = OPERATION_LISTS[key];
    if (!list || localStorage.getItem(PERSIST_HEADERS) === "true") {
      return value;
    }
    try {
      var stored = JSON.parse(value);
      stored[list] = stored[list].map(function (operation) {
        return Object.assign({}, operation, { headers: undefined });
      });
      return JSON.stringify(stored);
    } catch (error) {
      return null;
    }
  }

  function ownKeys() {
    return Object.keys(localStorage).filter(function (key) {
      return key.indexOf(PREFIX) === 0;
    });
  }

  var storage = {
    getItem: function (key) {
      return localStorage.getItem(key);
    },
    setItem: function (key, value) {
      var kept = storable(key, value);
      if (kept === null) {
        localStorage.removeItem(key);
      } else {
        localStorage.setItem(key, kept);
      }
    },
    removeItem: function (key) {
      localStorage.removeItem(key);
    },
    clear: function () {
      ownKeys().forEach(function (key) {
        localStorage.removeItem(key);
      });
    },
    get length() {
      return ownKeys().length;
    },
  };

  var container = document.getElementById("graphiql");
  var DEFAULT_QUERY = [
    "# GraphiQL for the billing API. Most fields need a caller: open Headers below",
    '# and add {"Authorization": "Bearer <token>"}.',
    "# Docs (top left) lists every type and field.",
    "",
    "{",
    "  viewer {",
    "    userId",
    "  }",
    "}",
    "",
  ].join("\n");

  var graphiql = React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: container.dataset.endpoint }),
    storage: storage,
    defaultQuery: DEFAULT_QUERY,
    // The headers editor carries the Authorization header; open it at first.
    isHeadersEditorEnabled: true,
    defaultEditorToolsVisibility: "headers",
    // Left unset: headers are kept across reloads only once the user turns "Persist
    // headers" on in the settings (which remember the choice). A bearer token is a
    // credential, kept in localStorage only on request.
    shouldPersistHeaders: undefined,
    inputValueDeprecation: true,
  });
  ReactDOM.createRoot(container).render(graphiql);
})();
