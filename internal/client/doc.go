// Package client is a Go client of the audex job API (the hosted "extract
// audio from video" API plus audex's extensions), used by 'audex submit',
// 'audex status', 'audex fetch' and 'audex cancel'.
//
//	c := &client.Client{Server: "http://127.0.0.1:8080", Token: os.Getenv("AUDEX_TOKEN")}
//	f, _ := os.Open("movie.mp4")
//	fi, _ := f.Stat()
//	id, err := c.SubmitFile(ctx, "movie.mp4", f, fi.Size(), client.Params{Start: 90 * time.Second, Duration: 2 * time.Second})
//	st, err := c.Wait(ctx, id, nil) // polls; st.Err() is non-nil for a failed job
//	d, err := c.Open(ctx, st)       // the result, streamed
//
// Uploads are streamed from the reader (with an exact Content-Length when the
// size is known); the token is sent only to the configured server, never to
// a result link on another host. Error answers are *APIError values that
// match ErrAPI; Status and Cancel of an unknown job also match
// ErrJobNotFound. Cancel (audex's DELETE extension) stops a pending job.
package client
