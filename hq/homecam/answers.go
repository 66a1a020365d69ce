package homecam

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/proto"
)

// Answers applies the stores' answers to watches from home
// (camera/hq/answer) in the replica's transaction: a row in home_answers
// (kind "camera", id AnswerID(store, session)) and a notification on
// Channel with that id.
type Answers struct{ log *slog.Logger }

// Handlers are the uplink topics this package applies.
func Handlers(log *slog.Logger) map[string]replica.TopicHandler {
	if log == nil {
		log = slog.Default()
	}
	return map[string]replica.TopicHandler{proto.TopicCameraAnswer: Answers{log: log}}
}

var sessionPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,160}$`)

// ApplyUplink stores one answer; one already stored is left as it was.
func (a Answers) ApplyUplink(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	var ans proto.HQCameraAnswer
	if err := json.Unmarshal(m.Payload, &ans); err != nil {
		a.log.Warn("homecam: a store's answer to a watch from home does not decode; skipped", "store", m.Store, "err", err)
		return fmt.Errorf("%w: camera answer: %w", replica.ErrBadMessage, err)
	}
	if ans.V != 1 || !sessionPattern.MatchString(ans.Session) {
		a.log.Warn("homecam: a store's answer to a watch from home has no valid v or session; skipped", "store", m.Store, "v", ans.V)
		return fmt.Errorf("%w: camera answer without v 1 and a session", replica.ErrBadMessage)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO home_answers (id, store, kind, payload) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
		AnswerID(m.Store, ans.Session), m.Store, Kind, m.Payload)
	if err != nil {
		return fmt.Errorf("homecam: home_answers: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, AnswerID(m.Store, ans.Session)); err != nil {
		return fmt.Errorf("homecam: notify: %w", err)
	}
	return nil
}

// AnswerID is the home_answers id of store's answer to session: one store
// cannot take or answer another's session.
func AnswerID(store, session string) string { return "camera/" + store + "/" + session }
