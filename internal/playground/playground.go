package playground

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// AssetPrefix is the path under which the page's stylesheet and script are
// served.
const AssetPrefix = "/playground/"

//go:embed static
var static embed.FS

// csp keeps the page to its own origin: no inline script, no third-party
// anything. Media may come from the result links, which carry the server's
// public base URL and so may be another origin than the page's.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; media-src 'self' http: https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type asset struct {
	body  []byte
	ctype string
	etag  string
}

type handler struct {
	assets map[string]asset // by request path
}

// Handler serves the playground page at "/" and its assets under
// [AssetPrefix], for GET and HEAD. Any other path or method gets the API's
// JSON 404 or 405 answer, so the handler may also be mounted as a catch-all.
func Handler() http.Handler {
	h := &handler{assets: map[string]asset{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := strings.TrimPrefix(p, "static/")
		a := asset{
			body:  b,
			ctype: mime.TypeByExtension(path.Ext(name)),
			etag:  `"` + hex.EncodeToString(sum[:12]) + `"`,
		}
		if name == "index.html" {
			h.assets["/"] = a
		} else {
			h.assets[AssetPrefix+name] = a
		}
		return nil
	})
	if err != nil {
		// The files are compiled in: failing to read them is a build defect.
		panic("playground: embedded assets: " + err.Error())
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.URL.Path]
	if !ok {
		jsonError(w, http.StatusNotFound, "not_found", "not found")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		jsonError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	// Revalidate every time: a new binary may bring a new page, and the
	// ETag makes the check cheap.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	if r.URL.Path == "/" {
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Frame-Options", "DENY")
	}
	// ServeContent answers If-None-Match, HEAD and Range; the zero modtime
	// leaves Last-Modified out (embedded files have none).
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// jsonError answers like the API does: {"error": msg, "code": code}.
func jsonError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"` + msg + `","code":"` + code + `"}` + "\n"))
}
