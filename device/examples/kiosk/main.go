// Command kiosk is a minimal self-service kiosk: it lists the store's
// services, shows tomorrow's free slots of one of them, books the first
// slot for a customer and prints the booking. When the slot was taken in
// the meantime it books the first alternative the store offers instead.
//
// Who the customer is: a kiosk is a public device, so it does not take a
// customer's word (or id) for it. Without -customer it shows its presence
// code (the URL is printed, the QR code written to -qr); the customer
// scans it with the phone that holds her store chat, and once she has
// confirmed there the kiosk books for her and shows her pets' profiles.
// When she is done it ends her time at the kiosk. With -customer it books
// for that id, but reads nothing of that customer.
//
// To run it against a local store started with `make run`, add a kiosk in
// the console ("Team & devices", "Add a device", role kiosk): it shows a
// pairing code. Then
//
//	go run ./device/examples/kiosk -enroll K7M2QX9P -enroll-url http://127.0.0.1:8080/enroll
//
// enrols the kiosk with the code and keeps its credentials in
// -credentials (kiosk-credentials.json, mode 0600); later runs read them
// from there and need no flag. -id and -password log in with credentials
// given by hand instead.
//
// -queue-dir keeps the kiosk's unanswered bookings on disk across restarts
// of the program.
//
// It says on stderr when its link to the store drops and comes back, and
// when the store refuses its login (the kiosk was revoked in the console,
// or given a new code): that needs the admin, not a retry.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	_ "time/tzdata" // the store's zone, also on a kiosk image without zoneinfo

	"github.com/eclipse/paho.golang/autopaho"

	"github.com/storeedge/storeedge/device"
)

// AppVersion is what the console's device list shows for this kiosk.
const AppVersion = "kiosk-example/1.0"

func main() {
	broker := flag.String("broker", "mqtt://127.0.0.1:1883", "the store broker")
	id := flag.String("id", "", "this kiosk's device id (default: from -credentials)")
	password := flag.String("password", "", "this kiosk's password (default: from -credentials)")
	enroll := flag.String("enroll", "", "enrol with this pairing code first (the console's \"Add a device\")")
	enrollURL := flag.String("enroll-url", "http://127.0.0.1:8080/enroll", "the store's enrolment address (the pairing QR code's \"enroll\")")
	creds := flag.String("credentials", "kiosk-credentials.json", "where the kiosk keeps the credentials it enrolled with")
	queueDir := flag.String("queue-dir", "", "keep unanswered requests in this directory (default: in memory)")
	customer := flag.String("customer", "", "book for this customer id without her confirming at the kiosk (nothing of hers is shown)")
	service := flag.String("service", "", "the service to book (default: the first one listed)")
	qr := flag.String("qr", "kiosk-presence.png", "where to write the presence QR code (PNG) for the customer to scan")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	id2, password2, err := login(ctx, *id, *password, *enroll, *enrollURL, *creds)
	if err == nil {
		err = run(ctx, *broker, id2, password2, *queueDir, *customer, *service, *qr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kiosk:", err)
		os.Exit(1)
	}
}

// login returns the kiosk's id and password: given by hand, enrolled now
// with a pairing code, or read from the credentials kept by an earlier
// enrolment.
func login(ctx context.Context, id, password, code, enrollURL, keep string) (string, string, error) {
	switch {
	case code != "":
		c, err := device.Enroll(ctx, enrollURL, code, keep)
		if err != nil {
			return "", "", err
		}
		fmt.Printf("Enrolled as %s (%s); credentials kept in %s\n", c.ID, c.Name, keep)
		return c.ID, c.Password, nil
	case id != "":
		return id, password, nil
	}
	c, err := device.LoadCredentials(keep)
	if err != nil {
		return "", "", fmt.Errorf("%w (enrol first: -enroll CODE, or give -id and -password)", err)
	}
	return c.ID, c.Password, nil
}

func run(ctx context.Context, broker, id, password, queueDir, customer, service, qr string) error {
	c, err := device.Connect(ctx, device.Config{Brokers: []string{broker}, DeviceID: id, Password: password, QueueDir: queueDir, AppVersion: AppVersion,
		OnConnection: linkState(os.Stderr)})
	if err != nil {
		return err
	}
	defer c.Close(context.Background())

	if customer == "" {
		if customer, err = waitForCustomer(ctx, c, qr); err != nil {
			return err
		}
		// Her time at the kiosk ends with this program.
		defer func() {
			if _, err := c.KioskPresenceEnd(context.Background()); err != nil {
				fmt.Fprintln(os.Stderr, "kiosk: ending the customer's time here:", err)
			}
		}()
		pets, err := c.ProfileList(ctx, customer)
		if err != nil {
			return err
		}
		fmt.Printf("Welcome back, %s. Your profiles:\n", customer)
		for _, p := range pets {
			fmt.Printf("  %s  %s (%s %s)\n", p.ID, p.Name, p.Kind, p.Species)
		}
	}

	cat, err := c.Services(ctx)
	if err != nil {
		return err
	}
	fmt.Println("Services:")
	for _, s := range cat.Services {
		fmt.Printf("  %-16s %-36s %3d min  %d.%02d %s\n", s.ID, s.Name.EN, s.Minutes, s.Price/100, s.Price%100, s.Currency)
	}
	if service == "" && len(cat.Services) > 0 {
		service = cat.Services[0].ID
	}
	loc, err := time.LoadLocation(cat.TimeZone)
	if err != nil {
		return fmt.Errorf("the store's time zone %q: %w", cat.TimeZone, err)
	}
	tomorrow := time.Now().In(loc).AddDate(0, 0, 1).Format(time.DateOnly)
	av, err := c.Availability(ctx, device.AvailabilityRequest{Service: service, Date: tomorrow})
	if err != nil {
		return err
	}
	if len(av.Days) == 0 || len(av.Days[0].Slots) == 0 {
		return fmt.Errorf("%s has no free slot on %s", service, tomorrow)
	}
	fmt.Printf("\nFree on %s for %s:\n", tomorrow, service)
	for _, s := range av.Days[0].Slots {
		fmt.Printf("  %s-%s\n", s.Start.Format("15:04"), s.End.Format("15:04"))
	}

	start := av.Days[0].Slots[0].Start
	b, err := c.Book(ctx, device.BookRequest{Service: service, Start: start, Customer: customer})
	var refused *device.Error
	if errors.Is(err, device.ErrConflict) && errors.As(err, &refused) && len(refused.Alternatives) > 0 {
		// Someone booked the slot since the list was read: take the
		// nearest one the store offers.
		alt := refused.Alternatives[0]
		fmt.Printf("\n%s is taken; booking %s instead\n", start.Format("15:04"), alt.Start.Format("Mon 2 Jan 15:04"))
		b, err = c.Book(ctx, device.BookRequest{Service: service, Start: alt.Start, Customer: customer})
	}
	if err != nil {
		return err
	}
	fmt.Printf("\nBooked %s: %s for %s, %s-%s on %v (%s)\n", b.ID, b.Service, b.Customer,
		b.Start.Format("Mon 2 Jan 15:04"), b.End.Format("15:04"), b.Resources, b.Status)
	return nil
}

// linkState returns the device's OnConnection: it writes a line to w when
// the link to the store drops, when it is back, and once when the store
// refuses the kiosk's login; not one per retry.
func linkState(w io.Writer) func(up bool, err error) {
	var mu sync.Mutex
	down, refused := false, false
	return func(up bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		var ce *autopaho.ConnackError
		switch {
		case up:
			if down {
				fmt.Fprintln(w, "kiosk: connected to the store again")
			}
			down, refused = false, false
		case err == nil:
			if !down {
				fmt.Fprintln(w, "kiosk: the connection to the store was lost; reconnecting")
			}
			down = true
		case errors.As(err, &ce):
			if !refused {
				fmt.Fprintf(w, "kiosk: the store refused this kiosk's login (%v): it was revoked or given a new code in the console; "+
					"ask the store's admin, then run again with -enroll CODE\n", err)
			}
			down, refused = true, true
		}
	}
}

// waitForCustomer shows the kiosk's presence code and waits until a
// customer has confirmed it from her phone, or the code expires.
func waitForCustomer(ctx context.Context, c *device.Client, qr string) (string, error) {
	code, err := c.KioskPresenceStart(ctx)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(qr, code.QRPNG, 0o644); err != nil {
		return "", err
	}
	fmt.Printf("Scan this with the phone that has your store chat (QR code in %s):\n  %s\n", qr, code.URL)
	wait, cancel := context.WithDeadline(ctx, code.Expires)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		p, err := c.KioskPresence(wait)
		if err == nil && p.Customer != "" {
			return p.Customer, nil
		}
		if err != nil && wait.Err() == nil {
			return "", err
		}
		select {
		case <-wait.Done():
			return "", errors.New("nobody confirmed the code in time; run again for a new one")
		case <-tick.C:
		}
	}
}
