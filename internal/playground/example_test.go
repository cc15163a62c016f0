package playground_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/audex/audex/internal/playground"
)

// Mount the page next to an API on one mux: the page at "/" exactly, its
// stylesheet and script under AssetPrefix.
func ExampleHandler() {
	mux := http.NewServeMux()
	pg := playground.Handler()
	mux.Handle("GET /{$}", pg)
	mux.Handle("GET "+playground.AssetPrefix, pg)

	for _, path := range []string{"/", "/playground/app.js", "/playground/style.css"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, rec.Code, rec.Header().Get("Content-Type"))
	}
	// Output:
	// / 200 text/html; charset=utf-8
	// /playground/app.js 200 text/javascript; charset=utf-8
	// /playground/style.css 200 text/css; charset=utf-8
}
