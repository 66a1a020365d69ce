// Command kiosk is a minimal self-service kiosk: it lists the store's
// services, shows tomorrow's free slots of one of them, books the first
// slot for a customer and prints the booking. When the slot was taken in
// the meantime it books the first alternative the store offers instead.
//
// To run it against a local store started with `make run` (whose device
// registry starts empty), register a kiosk first, in another terminal:
//
//	bin/storeedge passwd                  # type a password; prints its hash
//	cat > data/devices.yaml <<'YAML'
//	devices:
//	  - id: kiosk-1
//	    role: kiosk
//	    password_hash: "<the hash printed above>"
//	YAML
//	kill -HUP $(pgrep storeedge)          # reloads the registry
//
// then
//
//	go run ./device/examples/kiosk -id kiosk-1 -password '<the password>' -customer cust-demo
//
// -queue-dir keeps the kiosk's unanswered bookings on disk across restarts
// of the program.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
	_ "time/tzdata" // the store's zone, also on a kiosk image without zoneinfo

	"github.com/storeedge/storeedge/device"
)

func main() {
	broker := flag.String("broker", "mqtt://127.0.0.1:1883", "the store broker")
	id := flag.String("id", "kiosk-1", "this kiosk's device id")
	password := flag.String("password", "", "this kiosk's password")
	queueDir := flag.String("queue-dir", "", "keep unanswered requests in this directory (default: in memory)")
	customer := flag.String("customer", "", "the customer id to book for (their cust-… id when they have one)")
	service := flag.String("service", "", "the service to book (default: the first one listed)")
	flag.Parse()
	if *customer == "" {
		fmt.Fprintln(os.Stderr, "kiosk: -customer is required")
		os.Exit(2)
	}
	if err := run(*broker, *id, *password, *queueDir, *customer, *service); err != nil {
		fmt.Fprintln(os.Stderr, "kiosk:", err)
		os.Exit(1)
	}
}

func run(broker, id, password, queueDir, customer, service string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := device.Connect(ctx, device.Config{Brokers: []string{broker}, DeviceID: id, Password: password, QueueDir: queueDir})
	if err != nil {
		return err
	}
	defer c.Close(context.Background())

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
