package badactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/proto"
)

// session is one MQTT 5 connection of the honest device (or of whoever
// logged in).
type session struct {
	id   string // client id
	c    *paho.Client
	done func()
	msgs chan *paho.Publish
}

// connect logs in over MQTT 5. A refused login returns the CONNACK and an
// error; a failure before any CONNACK returns no CONNACK.
func (r *runner) connect(ctx context.Context, cid, user, password string) (*session, *paho.Connack, error) {
	conn, done, err := dial(ctx, r.t.Addr)
	if err != nil {
		return nil, nil, err
	}
	s := &session{id: cid, done: done, msgs: make(chan *paho.Publish, 32)}
	s.c = paho.NewClient(paho.ClientConfig{
		Conn:          conn,
		PacketTimeout: r.tm.answer,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			select {
			case s.msgs <- pr.Packet:
			default: // more than the checks ever read
			}
			return true, nil
		}},
		OnClientError: func(error) {},
	})
	ca, err := s.c.Connect(ctx, &paho.Connect{ClientID: cid, KeepAlive: 30, CleanStart: true,
		Username: user, UsernameFlag: true, Password: []byte(password), PasswordFlag: true})
	if err != nil {
		done()
		return nil, ca, fmt.Errorf("connect as %s (client id %s): %w", user, cid, err)
	}
	return s, ca, nil
}

// honest logs in with the target's credentials and client id cid, and
// subscribes to its own reply topic.
func (r *runner) honest(ctx context.Context, cid string) (*session, error) {
	s, _, err := r.connect(ctx, cid, r.t.DeviceID, r.t.Password)
	if err != nil {
		return nil, err
	}
	code, err := s.subscribe(ctx, s.replyFilter())
	if err == nil && code >= 0x80 {
		err = fmt.Errorf("SUBACK 0x%02X for its own %s", code, s.replyFilter())
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *session) close() {
	_ = s.c.Disconnect(&paho.Disconnect{})
	s.done()
}

func (s *session) replyFilter() string        { return proto.ReplyFilter(s.id) }
func (s *session) replyTopic(x string) string { return proto.ReplyTopic(s.id, x) }

// subscribe returns the SUBACK's reason code for filter.
func (s *session) subscribe(ctx context.Context, filter string) (byte, error) {
	sa, err := s.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if sa != nil && len(sa.Reasons) == 1 {
		return sa.Reasons[0], nil
	}
	if err == nil {
		err = errors.New("no SUBACK with one reason code")
	}
	return 0, fmt.Errorf("subscribe %s: %w", filter, err)
}

// publish sends a QoS 1 message and returns the PUBACK's reason code.
func (s *session) publish(ctx context.Context, p *paho.Publish) (byte, error) {
	p.QoS = 1
	pr, err := s.c.Publish(ctx, p)
	if pr != nil {
		return pr.ReasonCode, nil
	}
	return 0, fmt.Errorf("publish to %s: %w", p.Topic, err)
}

// expectConnack logs in and wants the CONNACK to refuse with want.
func (r *runner) expectConnack(ctx context.Context, cid, user, password string, want byte) (string, error) {
	s, ca, err := r.connect(ctx, cid, user, password)
	if s != nil {
		s.close()
		return "", fmt.Errorf("client id %q user %q: accepted, want CONNACK 0x%02X", cid, user, want)
	}
	if ca == nil {
		return "", err
	}
	if ca.ReasonCode != want {
		return "", fmt.Errorf("client id %q user %q: CONNACK 0x%02X, want 0x%02X", cid, user, ca.ReasonCode, want)
	}
	return fmt.Sprintf("client id %q user %q: CONNACK 0x%02X", cid, user, ca.ReasonCode), nil
}

func checkWrongPassword(ctx context.Context, r *runner) (string, error) {
	return r.expectConnack(ctx, r.t.DeviceID, r.t.DeviceID, r.t.Password+"-wrong", 0x86)
}

func checkUnknownDevice(ctx context.Context, r *runner) (string, error) {
	nobody := "no-such-device-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	return r.expectConnack(ctx, nobody, nobody, r.t.Password, 0x86)
}

func checkForeignClientID(ctx context.Context, r *runner) (string, error) {
	return r.expectConnack(ctx, r.t.DeviceID+"-other", r.t.DeviceID, r.t.Password, 0x85)
}

func checkWildcardClientID(ctx context.Context, r *runner) (string, error) {
	var seen []string
	for _, cid := range []string{r.clientID("a/b"), r.clientID("+")} {
		d, err := r.expectConnack(ctx, cid, r.t.DeviceID, r.t.Password, 0x85)
		if err != nil {
			return "", err
		}
		seen = append(seen, d)
	}
	return strings.Join(seen, "; "), nil
}

// Publishing beyond the role is refused with PUBACK 0x87, and the
// connection stays usable for what the role may publish.
func checkForbiddenPublish(ctx context.Context, r *runner) (string, error) {
	s, _, err := r.connect(ctx, r.clientID("bad-pub"), r.t.DeviceID, r.t.Password)
	if err != nil {
		return "", err
	}
	defer s.close()
	var seen []string
	for _, topic := range []string{"chat/x/events", "svc/chat/send", "devices/" + r.t.DeviceID + "-other/status", "hq/broadcast/promo"} {
		code, err := s.publish(ctx, &paho.Publish{Topic: topic, Payload: []byte(`{"v":1}`)})
		if err != nil {
			return "", err
		}
		if code != 0x87 {
			return "", fmt.Errorf("publish to %s: PUBACK 0x%02X, want 0x87", topic, code)
		}
		seen = append(seen, topic)
	}
	own := "devices/" + r.t.DeviceID + "/telemetry"
	code, err := s.publish(ctx, &paho.Publish{Topic: own, Payload: []byte(`{"v":1,"battery":0.5}`)})
	if err != nil {
		return "", fmt.Errorf("after the refusals: %w", err)
	}
	if code >= 0x80 {
		return "", fmt.Errorf("after the refusals, publish to its own %s: PUBACK 0x%02X", own, code)
	}
	return fmt.Sprintf("PUBACK 0x87 for %s; its own telemetry still accepted", strings.Join(seen, ", ")), nil
}

// Subscribing beyond the role is refused with SUBACK 0x87; the device's
// own reply topic is granted on the same connection.
func checkForbiddenSubscribe(ctx context.Context, r *runner) (string, error) {
	s, _, err := r.connect(ctx, r.clientID("bad-sub"), r.t.DeviceID, r.t.Password)
	if err != nil {
		return "", err
	}
	defer s.close()
	var seen []string
	for _, f := range []string{"#", "reply/other/#", "reply/+/#", "reply/" + r.clientID("victim") + "/#"} {
		code, err := s.subscribe(ctx, f)
		if err != nil {
			return "", err
		}
		if code != 0x87 {
			return "", fmt.Errorf("subscribe %s: SUBACK 0x%02X, want 0x87", f, code)
		}
		seen = append(seen, f)
	}
	code, err := s.subscribe(ctx, s.replyFilter())
	if err != nil {
		return "", err
	}
	if code >= 0x80 {
		return "", fmt.Errorf("its own %s: SUBACK 0x%02X", s.replyFilter(), code)
	}
	return fmt.Sprintf("SUBACK 0x87 for %s; its own reply topic granted", strings.Join(seen, ", ")), nil
}

// answer is a service's answer.
type answer struct {
	proto.AnswerHead
	raw []byte
}

// errNoAnswer is what request reports when nothing came in time.
var errNoAnswer = errors.New("no answer")

var servicesTopic = proto.RequestTopic(proto.ServiceBooking, "services")

// request publishes payload (QoS 1) with replyTo as its Response Topic
// ("" for none) and waits up to wait for the answer that carries its
// correlation data.
func (r *runner) request(ctx context.Context, s *session, payload []byte, replyTo string, wait time.Duration) (*answer, error) {
	corr := []byte("c" + strconv.FormatInt(r.seq.Add(1), 10))
	p := &paho.Publish{Topic: servicesTopic, Payload: payload,
		Properties: &paho.PublishProperties{ResponseTopic: replyTo, CorrelationData: corr}}
	code, err := s.publish(ctx, p)
	if err != nil {
		return nil, err
	}
	if code >= 0x80 {
		return nil, fmt.Errorf("request on %s: PUBACK 0x%02X", servicesTopic, code)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case m := <-s.msgs:
			if m.Properties == nil || string(m.Properties.CorrelationData) != string(corr) {
				continue
			}
			a := &answer{raw: m.Payload}
			if err := json.Unmarshal(m.Payload, a); err != nil {
				return nil, fmt.Errorf("the answer is not JSON: %w: %s", err, clip(m.Payload))
			}
			return a, nil
		case <-timer.C:
			return nil, fmt.Errorf("%w within %v", errNoAnswer, wait)
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the answer: %w", ctx.Err())
		}
	}
}

// expectError sends payload with the session's own reply topic and wants
// an error answer with code.
func (r *runner) expectError(ctx context.Context, s *session, payload []byte, code string) (*answer, string, error) {
	a, err := r.request(ctx, s, payload, s.replyTopic("x"), r.tm.answer)
	if err != nil {
		return nil, "", err
	}
	if a.OK || a.Error == nil || a.Error.Code != code {
		return a, "", fmt.Errorf("answer %s, want error %s", clip(a.raw), code)
	}
	return a, fmt.Sprintf("answered %s (%s)", a.Error.Code, a.Error.Message), nil
}

// reqID is a fresh request id.
func (r *runner) reqID() string {
	return "badactor-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatInt(r.seq.Add(1), 10)
}

func (r *runner) servicesRequest() []byte { return fmt.Appendf(nil, `{"id":%q,"v":1}`, r.reqID()) }

func checkGarbageJSON(ctx context.Context, r *runner) (string, error) {
	s, err := r.honest(ctx, r.clientID("bad-json"))
	if err != nil {
		return "", err
	}
	defer s.close()
	_, d, err := r.expectError(ctx, s, []byte(`{"id": "x", "v": 1, this is not JSON`), "bad_request")
	return d, err
}

func checkNoID(ctx context.Context, r *runner) (string, error) {
	s, err := r.honest(ctx, r.clientID("bad-noid"))
	if err != nil {
		return "", err
	}
	defer s.close()
	a, d, err := r.expectError(ctx, s, []byte(`{"v":1}`), "bad_request")
	if err != nil {
		return "", err
	}
	if a.ID != "" {
		return "", fmt.Errorf("answer carries id %q, want \"\" for a request without one", a.ID)
	}
	return d, nil
}

func checkTooLarge(ctx context.Context, r *runner) (string, error) {
	size := r.maxRequest() + 1024
	if size+512 > r.maxPacket() {
		return "", fmt.Errorf("cannot check: a request over the limit of %d bytes does not fit the maximum packet size %d", r.maxRequest(), r.maxPacket())
	}
	s, err := r.honest(ctx, r.clientID("bad-big-req"))
	if err != nil {
		return "", err
	}
	defer s.close()
	head := fmt.Sprintf(`{"id":%q,"v":1,"pad":"`, r.reqID())
	payload := []byte(head + strings.Repeat("x", size-len(head)-2) + `"}`)
	_, d, err := r.expectError(ctx, s, payload, "too_large")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d-byte request (limit %d) %s", len(payload), r.maxRequest(), d), nil
}

// A request whose answer would go to another client (a Response Topic, or
// a reply_to field, under someone else's reply/…) is dropped: neither that
// client nor the sender gets anything. A proper request right after is
// answered, so the silence is not a slow or stopped service.
func checkForeignReply(ctx context.Context, r *runner) (string, error) {
	victim, err := r.honest(ctx, r.clientID("victim"))
	if err != nil {
		return "", err
	}
	defer victim.close()
	s, err := r.honest(ctx, r.clientID("bad-reply"))
	if err != nil {
		return "", err
	}
	defer s.close()

	if a, err := r.request(ctx, s, r.servicesRequest(), victim.replyTopic("x"), r.tm.quiet); !errors.Is(err, errNoAnswer) {
		return "", unexpected("Response Topic "+victim.replyTopic("x"), a, err)
	}
	body := fmt.Appendf(nil, `{"id":%q,"v":1,"reply_to":%q}`, r.reqID(), victim.replyTopic("y"))
	if a, err := r.request(ctx, s, body, "", r.tm.quiet); !errors.Is(err, errNoAnswer) {
		return "", unexpected("reply_to "+victim.replyTopic("y"), a, err)
	}
	a, err := r.request(ctx, s, r.servicesRequest(), s.replyTopic("x"), r.tm.answer)
	if err != nil {
		return "", fmt.Errorf("the proper request after: %w", err)
	}
	if !a.OK {
		return "", fmt.Errorf("the proper request after: answered %s", clip(a.raw))
	}
	select {
	case m := <-victim.msgs:
		return "", fmt.Errorf("%s received %s on %s", victim.id, clip(m.Payload), m.Topic)
	default:
	}
	return fmt.Sprintf("no answer to %s or to the sender within %v (Response Topic and reply_to); a proper request was answered", victim.id, r.tm.quiet), nil
}

func unexpected(what string, a *answer, err error) error {
	if err != nil {
		return fmt.Errorf("request with %s: %w", what, err)
	}
	return fmt.Errorf("request with %s: the sender got an answer: %s", what, clip(a.raw))
}

// The honest device logs in and is served. Its client id has a suffix, so
// that the check does not take over the session of the device itself
// should it be connected.
func checkHonest(ctx context.Context, r *runner) (string, error) {
	s, err := r.honest(ctx, r.clientID("honest"))
	if err != nil {
		return "", err
	}
	defer s.close()
	start := time.Now()
	a, err := r.request(ctx, s, r.servicesRequest(), s.replyTopic("x"), r.tm.answer)
	if err != nil {
		return "", err
	}
	if !a.OK {
		return "", fmt.Errorf("%s answered %s", servicesTopic, clip(a.raw))
	}
	return fmt.Sprintf("%s answered ok:true in %v", servicesTopic, time.Since(start).Round(time.Millisecond)), nil
}

// clip shortens a payload for a message.
func clip(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
