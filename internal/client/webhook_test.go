package client_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/client"
	"github.com/audex/audex/internal/webhook"
)

// A webhook receiver: check the signature over the raw body, then decode.
func ExampleVerifyWebhook() {
	secret := "whsec_…" // from GET /webhooks/secret (client.WebhookSecret)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable", http.StatusBadRequest)
			return
		}
		if err := client.VerifyWebhook(secret, r.Header.Get(client.WebhookSignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			fmt.Println("refused:", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Delivery is at least once: drop a delivery id already handled.
		fmt.Println("job finished:", string(body), "delivery", r.Header.Get(client.WebhookDeliveryHeader))
		w.WriteHeader(http.StatusNoContent)
	})

	// What audex sends, and the same with the body changed on the way.
	body := []byte(`{"job_id":"k3Xx0m9hQfWc7d2Xo1pH0w","status":"successful"}`)
	for _, b := range [][]byte{body, bytes.Replace(body, []byte("successful"), []byte("failed"), 1)} {
		req := httptest.NewRequest(http.MethodPost, "/audex-hook", bytes.NewReader(b))
		req.Header.Set(client.WebhookSignatureHeader, webhook.Sign(secret, time.Now(), body))
		req.Header.Set(client.WebhookDeliveryHeader, "d-1")
		handler.ServeHTTP(httptest.NewRecorder(), req)
	}
	// Output:
	// job finished: {"job_id":"k3Xx0m9hQfWc7d2Xo1pH0w","status":"successful"} delivery d-1
	// refused: webhook: signature mismatch
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	const secret = "whsec_abc"
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	body := []byte(`{"job_id":"x","status":"failed"}`)
	h := webhook.Sign(secret, t0, body)
	require.NoError(t, client.VerifyWebhook(secret, h, body, t0.Add(time.Minute), 0))
	assert.ErrorIs(t, client.VerifyWebhook(secret, h, append(bytes.Clone(body), '\n'), t0, 0), client.ErrWebhookSignature, "tampered body")
	later := strings.Replace(h, "t=1893553445", "t=1893553500", 1)
	assert.ErrorIs(t, client.VerifyWebhook(secret, later, body, t0, 0), client.ErrWebhookSignature, "tampered timestamp")
	assert.ErrorIs(t, client.VerifyWebhook(secret, h, body, t0.Add(time.Hour), 0), client.ErrWebhookTimestamp, "replayed late")
	assert.ErrorIs(t, client.VerifyWebhook(secret, "", body, t0, 0), client.ErrWebhookNoSignature)
}

func TestWebhookSecret(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(client.TokenHeader) != "tok" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"missing or invalid credentials","code":"unauthorized"}`))
			return
		}
		assert.Equal(t, "/webhooks/secret", r.URL.Path)
		w.Write([]byte(`{"owner":"alice","secret":"whsec_s"}`))
	}))
	defer srv.Close()
	s, err := (&client.Client{Server: srv.URL, Token: "tok"}).WebhookSecret(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "whsec_s", s)
	_, err = (&client.Client{Server: srv.URL, Token: "wrong"}).WebhookSecret(t.Context())
	require.ErrorIs(t, err, client.ErrAPI)
}
