package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/audex/audex/internal/fetch"
	"github.com/audex/audex/internal/webhook"
	"github.com/audex/audex/jobs"
)

// Webhooks: a job submitted with webhook_url gets its final status POSTed
// there (the body is the status answer's JSON), signed with its owner's
// webhook secret (see package webhook for the header). The secret is
// derived from the signing key and the owner's name, so it needs no
// storage, survives restarts and is the same on every server sharing the
// key; an owner reads it at GET /webhooks/secret. Delivery is jobs'
// notifications: durable, at least once, retried with backoff for a day.

const (
	routeWebhookSecret = "GET /webhooks/secret"
	// webhookSecretPrefix marks a webhook secret, so that it is not taken
	// for an API token.
	webhookSecretPrefix = "whsec_"
	// webhookTargetVersion is the version of webhookTarget as stored.
	webhookTargetVersion = 1
)

// webhookSecret is owner's webhook secret: HMAC-SHA256 under a key of its
// own, itself derived from the signing key (so no secret is ever a link
// signature), base64url.
func (sg *signer) webhookSecret(owner string) string {
	k := hmac.New(sha256.New, sg.key)
	k.Write([]byte("audex webhook secrets v1"))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(owner))
	return webhookSecretPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// webhookTarget is what the service keeps in a job's jobs.Request.Notify.
// It is a stored format: fields are only ever added, and V tells versions
// apart.
type webhookTarget struct {
	V   int    `json:"v"`
	URL string `json:"url"`
	// Base is what result links in the message start with: PublicURL, or
	// the scheme and host the job was submitted to.
	Base string `json:"base"`
}

func encodeTarget(url, base string) string {
	b, _ := json.Marshal(webhookTarget{V: webhookTargetVersion, URL: url, Base: base})
	return string(b)
}

// decodeTarget reads a stored target: "" gives none.
func decodeTarget(s string) (*webhookTarget, error) {
	if s == "" {
		return nil, nil
	}
	var t webhookTarget
	if err := json.Unmarshal([]byte(s), &t); err != nil {
		return nil, fmt.Errorf("httpapi: stored webhook target: %w", err)
	}
	if t.V != webhookTargetVersion {
		return nil, fmt.Errorf("httpapi: stored webhook target of version %d, want %d", t.V, webhookTargetVersion)
	}
	return &t, nil
}

// checkWebhook refuses, at submission, a webhook_url whose host is an
// address the service may not reach. (A name is checked when dialed.)
func (s *Server) checkWebhook(p JobParams) error {
	if p.WebhookURL == "" {
		return nil
	}
	if err := fetch.Check(p.WebhookURL, s.cfg.AllowPrivateFetch); err != nil {
		return &ParamsError{Fields: []FieldError{{Field: fieldWebhookURL, Message: err.Error()}}}
	}
	return nil
}

// notifyTarget is the jobs.Request.Notify of a submission.
func (s *Server) notifyTarget(r *http.Request, p JobParams) string {
	if p.WebhookURL == "" {
		return ""
	}
	return encodeTarget(p.WebhookURL, s.baseURL(r))
}

// webhookInfo is the status answer's webhook extension.
type webhookInfo struct {
	URL string `json:"url"`
	// State is waiting (the job is not final yet), pending, delivered,
	// rejected (410 Gone, or an address that may not be reached) or
	// failed (no attempt succeeded within the retry window).
	State         string    `json:"state"`
	DeliveryID    string    `json:"delivery_id,omitempty"`
	Attempts      int       `json:"attempts"`
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	LastResult    string    `json:"last_result,omitempty"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
}

const webhookWaiting = "waiting"

func webhookStatus(j jobs.Job) *webhookInfo {
	t, err := decodeTarget(j.Request.Notify)
	if err != nil || t == nil {
		return nil
	}
	w := &webhookInfo{URL: t.URL, State: webhookWaiting}
	if n := j.Notification; n != nil {
		w.State, w.DeliveryID, w.Attempts = n.State.String(), n.ID, n.Attempts
		w.LastAttemptAt, w.LastResult, w.NextAttemptAt = n.LastAttemptAt, n.LastResult, n.NextAttemptAt
	}
	return w
}

// webhookNotifier delivers jobs' notifications as signed webhooks.
type webhookNotifier struct {
	s      *Server
	sender *webhook.Sender
}

// rejected is an error the jobs package must not retry, worded as the
// error it wraps.
type rejected struct{ error }

func (rejected) Is(target error) bool { return target == jobs.ErrNotificationRejected }

func (n *webhookNotifier) Notify(ctx context.Context, nt jobs.Notification) error {
	t, err := decodeTarget(nt.Target)
	if err != nil || t == nil {
		return rejected{fmt.Errorf("httpapi: no webhook to notify: %v", err)}
	}
	body, err := json.Marshal(n.s.statusOf(t.Base, nt.Job))
	if err != nil {
		return fmt.Errorf("httpapi: webhook body: %w", err)
	}
	err = n.sender.Send(ctx, webhook.Message{
		URL: t.URL, ID: nt.ID, Attempt: nt.Attempt, Body: body,
		Secret: n.s.signer.webhookSecret(nt.Job.Request.Owner),
	})
	if err == nil {
		n.s.metrics.webhooks.WithLabelValues("delivered").Inc()
		return nil
	}
	if webhook.Permanent(err) {
		n.s.metrics.webhooks.WithLabelValues("rejected").Inc()
		return rejected{err}
	}
	n.s.metrics.webhooks.WithLabelValues("failed").Inc()
	return err
}

// startWebhooks starts the delivery of m's notifications.
func (s *Server) startWebhooks() error {
	o := jobs.NotifierOptions{}
	if s.cfg.Webhooks != nil {
		o = *s.cfg.Webhooks
	}
	if o.Timeout <= 0 {
		o.Timeout = webhook.DefaultTimeout
	}
	sender := webhook.NewSender(&webhook.Options{AllowPrivate: s.cfg.AllowPrivateFetch, Timeout: o.Timeout, Now: s.cfg.Now})
	err := s.m.StartNotifier(&webhookNotifier{s: s, sender: sender}, &o)
	if err != nil {
		return fmt.Errorf("httpapi: start webhooks: %w", err)
	}
	return nil
}

func (s *Server) handleWebhookSecret(w http.ResponseWriter, r *http.Request, owner string) {
	writeJSON(w, http.StatusOK, map[string]string{"owner": owner, "secret": s.signer.webhookSecret(owner)})
}
