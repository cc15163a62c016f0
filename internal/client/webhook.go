package client

import (
	"context"
	"net/http"
	"time"

	"github.com/audex/audex/internal/webhook"
)

// Webhooks. A job submitted with webhook_url gets its final status (the
// status answer's JSON) POSTed there, signed with the owner's webhook secret
// (WebhookSecret). A receiver checks every message with VerifyWebhook
// before trusting it, answers 2xx quickly, and drops copies by the
// WebhookDeliveryHeader: delivery is at least once.

// Headers of a webhook message.
const (
	// WebhookSignatureHeader: t=<unix seconds>,v1=<hex HMAC-SHA256 of
	// "<t>.<body>" under the secret>.
	WebhookSignatureHeader = webhook.SignatureHeader
	// WebhookDeliveryHeader: the delivery id, the same on every attempt.
	WebhookDeliveryHeader = webhook.DeliveryHeader
	// WebhookAttemptHeader: 1 for the first attempt, 2 for the first retry.
	WebhookAttemptHeader = webhook.AttemptHeader
)

// Errors of VerifyWebhook.
var (
	// ErrWebhookNoSignature: the signature header is missing or malformed.
	ErrWebhookNoSignature = webhook.ErrNoSignature
	// ErrWebhookSignature: the signature does not match the body and
	// timestamp under the secret (a changed body or timestamp, or another
	// secret).
	ErrWebhookSignature = webhook.ErrSignature
	// ErrWebhookTimestamp: the signature matches but was made further from
	// now than the tolerance (a replay, or a clock far off).
	ErrWebhookTimestamp = webhook.ErrTimestamp
)

// VerifyWebhook checks a webhook message: secret is the owner's webhook
// secret, header the message's WebhookSignatureHeader and body its raw
// bytes as received (before any JSON decoding). It returns nil when the
// signature matches, compared in constant time, and its timestamp is
// within tolerance of now (5 minutes when tolerance is 0); otherwise
// ErrWebhookNoSignature, ErrWebhookSignature or ErrWebhookTimestamp.
//
//	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
//	err := client.VerifyWebhook(secret, r.Header.Get(client.WebhookSignatureHeader), body, time.Now(), 0)
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	return webhook.Verify(secret, header, body, now, tolerance)
}

// pathWebhookSecret is audex's webhook-secret extension.
const pathWebhookSecret = "/webhooks/secret"

// WebhookSecret asks the server for the secret that signs the webhooks of
// this client's credential (an audex extension). It is derived from the
// server's signing key and stays the same across restarts.
func (c *Client) WebhookSecret(ctx context.Context) (string, error) {
	u, err := c.endpoint(pathWebhookSecret, nil)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	var v struct {
		Secret string `json:"secret"`
	}
	if err := c.do(req, &v); err != nil {
		return "", err
	}
	return v.Secret, nil
}
