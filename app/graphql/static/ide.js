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

  var endpoint = container.dataset.endpoint;
  // Subscriptions go over a WebSocket to the same path (graphql-transport-ws), by
  // graphql-ws, whose connection carries the headers editor's credentials in its
  // `connection_init` (a browser cannot set headers on a WebSocket).
  var socketUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + endpoint;
  var live = { key: null, client: null };

  // One connection for every subscription run with the same headers; new headers (another
  // token), a new connection, and the old one closed.
  function liveClient(headers) {
    var key = JSON.stringify(headers);
    if (live.key !== key) {
      if (live.client) {
        live.client.dispose();
      }
      live.client = graphqlWs.createClient({ url: socketUrl, connectionParams: headers });
      live.key = key;
    }
    return live.client;
  }

  function fetcher(params, options) {
    var headers = Object.assign({}, options && options.headers);
    // GraphiQL asks the client only when the operation is a subscription: connected then.
    var wsClient = {
      subscribe: function (payload, sink) {
        return liveClient(headers).subscribe(payload, sink);
      },
    };
    // GraphiQL tells a subscription by the editor's last parsed document, which lags
    // behind an edit made just before Run: this one is parsed from what is run.
    var current = Object.assign({}, options);
    try {
      current.documentAST = GraphiQL.GraphQL.parse(params.query);
    } catch (error) {
      // Not a document: sent as it is, and the server says what is wrong with it.
    }
    return GraphiQL.createFetcher({ url: endpoint, wsClient: wsClient })(params, current);
  }

  var graphiql = React.createElement(GraphiQL, {
    fetcher: fetcher,
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
