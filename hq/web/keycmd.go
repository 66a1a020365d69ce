package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/storeedge/storeedge/hq/replica"
)

// KeyUsage is the help of KeyCommand.
const KeyUsage = `usage:
  storeedge-hq key add NAME     make an API key named NAME (a person or a system); it is printed once
  storeedge-hq key list         list the keys (never their secrets)
  storeedge-hq key revoke ID    revoke a key by id: it, and every page signed in with it, stops working at once`

// ErrKeyUsage is KeyCommand's answer to arguments it does not understand.
var ErrKeyUsage = errors.New("web: " + KeyUsage)

// KeyCommand runs "storeedge-hq key …" (args after "key") against the
// replica, writing what it did to out.
func KeyCommand(ctx context.Context, r *replica.Replica, args []string, out io.Writer) error {
	if len(args) == 0 {
		return ErrKeyUsage
	}
	switch {
	case args[0] == "add" && len(args) == 2:
		key, err := r.AddKey(ctx, args[1])
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "API key %s for %q (shown once; keep it safe):\n%s\n", replica.KeyID(key), args[1], key)
		return err
	case args[0] == "list" && len(args) == 1:
		keys, err := r.Keys(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tCREATED\tREVOKED")
		for _, k := range keys {
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.ID, k.Name, k.CreatedAt.UTC().Format(time.RFC3339), revoked)
		}
		return w.Flush()
	case args[0] == "revoke" && len(args) == 2:
		if err := r.RevokeKey(ctx, args[1]); err != nil {
			return err
		}
		_, err := fmt.Fprintf(out, "API key %s revoked\n", args[1])
		return err
	}
	return ErrKeyUsage
}
