package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/audex/audex/internal/fetch"
)

func ExampleFetcher_Fetch() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "video bytes")
	}))
	defer srv.Close()

	// By default a loopback server is off limits.
	_, err := fetch.New(nil).Fetch(context.Background(), srv.URL, io.Discard)
	fmt.Println(errors.Is(err, fetch.ErrForbiddenAddress))

	// A test or a closed network allows it explicitly.
	var b strings.Builder
	n, err := fetch.New(&fetch.Options{AllowPrivate: true, MaxBytes: 1 << 20}).Fetch(context.Background(), srv.URL, &b)
	fmt.Println(n, err, b.String())
	// Output:
	// true
	// 11 <nil> video bytes
}
