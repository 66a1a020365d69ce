package svc

import (
	"fmt"
	"slices"
	"strings"

	"github.com/storeedge/storeedge/proto"
)

// HandleService registers the ops of service that proto.Ops lists, each
// with its handler from handlers and, when proto says it changes state,
// Mutating. opts adds options to single ops (Roles, say). A handler for an
// op proto does not list, options for one, or an op without a handler is
// an error and registers nothing: the wire contract and the service cannot
// drift apart.
func (r *Router) HandleService(service string, handlers map[string]Handler, opts map[string][]OpOption) error {
	ops := proto.ServiceOps(service)
	var missing []string
	for _, o := range ops {
		if _, ok := handlers[o.Name]; !ok {
			missing = append(missing, o.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("svc: %s: no handler for the ops %s", service, strings.Join(missing, ", "))
	}
	for name := range handlers {
		if _, ok := proto.Lookup(service, name); !ok {
			return fmt.Errorf("svc: %s/%s: not an op of the wire contract (proto.Ops)", service, name)
		}
	}
	for name := range opts {
		if _, ok := proto.Lookup(service, name); !ok {
			return fmt.Errorf("svc: %s/%s: options for an op that is not in proto.Ops", service, name)
		}
	}
	for _, o := range ops {
		oo := slices.Clone(opts[o.Name])
		if o.Mutating {
			oo = append(oo, Mutating())
		}
		if err := r.Handle(service, o.Name, handlers[o.Name], oo...); err != nil {
			return err
		}
	}
	return nil
}
