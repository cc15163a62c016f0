// Package playground serves audex's interactive playground: one page at "/"
// where a person tries the whole job flow (probe a video, submit it, watch
// the job, play and download the result, copy the equivalent curl commands)
// without writing code.
//
// The page is plain HTML, CSS and a little JavaScript embedded in the
// binary: it needs no build step and no network beyond the audex server.
// It talks to the server only through the public job API under
// /job/extract/video/audio, exactly as a program would, so it doubles as a
// live example of that API.
//
// Mount [Handler] on the API's mux for the page and its assets:
//
//	pg := playground.Handler()
//	mux.Handle("GET /{$}", pg)
//	mux.Handle("GET "+playground.AssetPrefix, pg)
package playground
