package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

type testPKI struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "storeedge test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testPKI{caCert: cert, caKey: key, pool: pool}
}

var serial int64 = 100

// issue returns a leaf certificate signed by the CA (or self-signed when
// selfSigned), for a server (IP 127.0.0.1) or a client with the given CN.
func (p *testPKI) issue(t *testing.T, cn string, server, selfSigned bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	parent, signer := p.caCert, any(p.caKey)
	if selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestTLSClientCertificateLogin(t *testing.T) {
	pki := newTestPKI(t)
	serverTLS := &tls.Config{
		Certificates: []tls.Certificate{pki.issue(t, "store-broker", true, false)},
		ClientCAs:    pki.pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}
	extra := "  - id: cam-room-1\n    role: camera\n    cert_cn: cam-room-1.store.local\n"
	b := startBroker(t, devicesYAML(t, extra), serverTLS)

	clientTLS := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: pki.pool, Certificates: certs, MinVersion: tls.VersionTLS12}
	}
	camCert := pki.issue(t, "cam-room-1.store.local", false, false)

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
		{"certificate for an unknown name", connectOpts{clientID: "cam-room-9", tls: clientTLS(pki.issue(t, "cam-room-9.store.local", false, false))}, codeBadCredentials},
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
	pki := newTestPKI(t)
	serverTLS := &tls.Config{
		Certificates: []tls.Certificate{pki.issue(t, "store-broker", true, false)},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	extra := "  - id: cam-room-1\n    role: camera\n    cert_cn: cam-room-1.store.local\n"
	b := startBroker(t, devicesYAML(t, extra), serverTLS)
	rogue := pki.issue(t, "cam-room-1.store.local", false, true)
	got := b.connackCode(t, connectOpts{clientID: "cam-room-1", tls: &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{rogue}}})
	if got != codeBadCredentials {
		t.Fatalf("unverified certificate: CONNACK 0x%02X, want 0x86", got)
	}
}
