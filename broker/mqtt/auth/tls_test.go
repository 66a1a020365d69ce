package auth

import (
	"github.com/storeedge/storeedge/internal/testkit/testpki"

	"crypto/tls"
	"testing"
)

func TestTLSClientCertificateLogin(t *testing.T) {
	pki := testpki.New(t)
	serverTLS := &tls.Config{
		Certificates: []tls.Certificate{pki.Server(t, "store-broker")},
		ClientCAs:    pki.Pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}
	extra := "  - id: cam-room-1\n    role: camera\n    cert_cn: cam-room-1.store.local\n"
	b := startBroker(t, devicesYAML(t, extra), serverTLS)

	clientTLS := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: pki.Pool, Certificates: certs, MinVersion: tls.VersionTLS12}
	}
	camCert := pki.Client(t, "cam-room-1.store.local")

	c, ca, err := b.connect(t, connectOpts{clientID: "cam-room-1", tls: clientTLS(camCert)})
	if err != nil {
		t.Fatalf("certificate login: %v (%+v)", err, ca)
	}
	cl, ok := b.srv.Clients.Get("cam-room-1")
	if !ok || string(cl.Properties.Username) != "cam-room-1" {
		t.Fatalf("username not set to the device id: %v %q", ok, cl.Properties.Username)
	}
	if code := c.publish(t, "devices/cam-room-1/status", true); code >= 0x80 {
		t.Fatalf("own status: 0x%02X", code)
	}
	if code := c.subscribe(t, "camera/cam-room-1/signal/#"); code >= 0x80 {
		t.Fatalf("own signaling: 0x%02X", code)
	}
	if code := c.subscribe(t, "camera/+/signal/#"); code != codeNotAuthorized {
		t.Fatalf("other cameras' signaling: 0x%02X", code)
	}

	tests := []struct {
		name string
		o    connectOpts
		want byte
	}{
		{"certificate with a suffixed client id", connectOpts{clientID: "cam-room-1:rtc", tls: clientTLS(camCert)}, codeOK},
		{"certificate, client id of another device", connectOpts{clientID: "kiosk-01", tls: clientTLS(camCert)}, codeBadClientID},
		{"certificate plus the username of another device", connectOpts{clientID: "kiosk-01", username: "kiosk-01", password: "pw-kiosk-01", tls: clientTLS(camCert)}, codeBadCredentials},
		{"certificate plus its own username", connectOpts{clientID: "cam-room-1", username: "cam-room-1", tls: clientTLS(camCert)}, codeOK},
		{"no certificate, certificate-only device", connectOpts{clientID: "cam-room-1", username: "cam-room-1", password: "guess", tls: clientTLS()}, codeBadCredentials},
		{"certificate for an unknown name", connectOpts{clientID: "cam-room-9", tls: clientTLS(pki.Client(t, "cam-room-9.store.local"))}, codeBadCredentials},
		{"password login over TLS", connectOpts{clientID: "kiosk-01", username: "kiosk-01", password: "pw-kiosk-01", tls: clientTLS()}, codeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.connackCode(t, tt.o); got != tt.want {
				t.Fatalf("CONNACK 0x%02X, want 0x%02X", got, tt.want)
			}
		})
	}
}

func TestVerifiedCNIgnoresUnverifiedCertificates(t *testing.T) {
	// A server that requests but does not verify certificates: a self-signed
	// certificate with a registered CN must not log in.
	pki := testpki.New(t)
	serverTLS := &tls.Config{
		Certificates: []tls.Certificate{pki.Server(t, "store-broker")},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	extra := "  - id: cam-room-1\n    role: camera\n    cert_cn: cam-room-1.store.local\n"
	b := startBroker(t, devicesYAML(t, extra), serverTLS)
	rogue := pki.SelfSignedClient(t, "cam-room-1.store.local")
	got := b.connackCode(t, connectOpts{clientID: "cam-room-1", tls: &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{rogue}}})
	if got != codeBadCredentials {
		t.Fatalf("unverified certificate: CONNACK 0x%02X, want 0x86", got)
	}
}
