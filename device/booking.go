package device

import (
	"context"
	"time"

	"github.com/storeedge/storeedge/proto"
)

// Bookings: the typed ops of svc/booking (PROTOCOL.md, "Bookings") and the
// Changes on booking/events and booking/customer/{customer}/events. Every
// time in a request is a time.Time, which marshals as RFC 3339 with its
// offset, as the store requires; answers give starts and ends in the
// store's zone. Dates (Date, From, profile dates) are "YYYY-MM-DD" days of
// the store's calendar (time.DateOnly in the store's zone). The ops on one
// booking go in its lane ("booking/"+id).

// Booking statuses (Booking.Status, Change.Status).
const (
	StatusBooked    = proto.StatusBooked
	StatusCheckedIn = proto.StatusCheckedIn
	StatusCompleted = proto.StatusCompleted
	StatusCancelled = proto.StatusCancelled
	StatusNoShow    = proto.StatusNoShow
)

// Text is a name in the store's two languages.
type Text = proto.Text

// Need is a resource a service takes (a table, a groomer with a skill).
type Need = proto.Need

// Service is one bookable service of the catalogue. Price is in minor
// units (fen for CNY); Species, Sizes and BabyAgeMonths ([from, to]) are
// set only when the service restricts them.
type Service = proto.Service

// Catalogue is what the store offers, its time zone (an IANA name), the
// progress stages in order, and how many days ahead it takes bookings.
type Catalogue = proto.Catalogue

// AvailabilityRequest asks for the free starts of Service on Days days
// (default 1, at most 31) from Date (default today). Exclude ignores one
// booking's own hold, for offering a reschedule.
type AvailabilityRequest = proto.AvailabilityRequest

// Availability is the free slots of a service, per day.
type Availability = proto.Availability

// DaySlots are the free slots of one date, in order.
type DaySlots = proto.DaySlots

// Contact is how to reach the customer about a booking.
type Contact = proto.Contact

// BookRequest books Service at Start. Desks (kiosks) and staff name the
// Customer (their cust-… id when they have one: the booking's cards go to
// the conversation named after it); customers book for themselves. Source
// is for staff: staff (default), chat, kiosk, phone or walk_in.
type BookRequest = proto.BookRequest

// Booking is a booking as the store shows it. Notes, Contact and Reason
// are shown only to the customer, staff and the device that made it.
type Booking = proto.Booking

// ProgressEntry is one stage of a visit; Photo is a blob hash.
type ProgressEntry = proto.ProgressEntry

// ProgressRequest posts Stage of a checked-in booking, with an optional
// note and Photo (the hash of an image uploaded with Upload, posted in the
// customer's chat after the progress card).
type ProgressRequest = proto.ProgressRequest

// BookingDetail is one booking; staff also get its profile and survey.
type BookingDetail = proto.BookingDetail

// SurveyAnswer is a customer's answer to the satisfaction survey.
type SurveyAnswer = proto.SurveyAnswer

// ListBookingsRequest asks for a customer's bookings starting on From (a
// date, default today) or later. Desks and staff name the Customer.
type ListBookingsRequest = proto.ListBookingsRequest

// BookingList is a customer's bookings, soonest first; More: ask again
// with From = the last one's date and skip the ones you have.
type BookingList = proto.BookingList

// Board is one day's bookings for staff, in start order.
type Board = proto.Board

// BoardEntry is a booking on the board with its pet's or baby's profile.
// On the board the store gives the profile itself in place of its id, so
// Booking.Profile is empty here: use Profile.ID.
type BoardEntry = proto.BoardEntry

// Change is one change to a booking, numbered by the store's seq. It
// carries ids, codes, times and states, no free text. Type is created,
// rescheduled, cancelled, no_show, checked_in, progress, completed,
// reminder, survey_invite, survey_answered or hq_rejected.
type Change = proto.Change

// ChangePage is the change feed after a seq; Last is the newest seq.
type ChangePage = proto.ChangePage

// Profile is a pet or baby. A pet needs Species; a baby needs BirthDate
// and has no species, breed, size or vaccination date. Updated is set by
// the store.
type Profile = proto.Profile

// change runs an op on one booking, in its lane, and answers the booking.
func (c *Client) change(ctx context.Context, op, booking string, req any, opts []CallOption) (Booking, error) {
	a, err := call[proto.BookingAnswer](ctx, c, "booking", op, req, inLane("booking/"+booking, opts)...)
	return a.Booking, err
}

// Services reads the store's catalogue.
func (c *Client) Services(ctx context.Context, opts ...CallOption) (Catalogue, error) {
	return call[Catalogue](ctx, c, "booking", "services", nil, opts...)
}

// Availability reads the free slots of a service.
func (c *Client) Availability(ctx context.Context, r AvailabilityRequest, opts ...CallOption) (Availability, error) {
	return call[Availability](ctx, c, "booking", "availability", r, opts...)
}

// Book makes a booking. A taken slot is ErrConflict with Reason "taken"
// and the nearest free slots in the *Error's Alternatives.
func (c *Client) Book(ctx context.Context, r BookRequest, opts ...CallOption) (Booking, error) {
	a, err := call[proto.BookingAnswer](ctx, c, "booking", "book", r, opts...)
	return a.Booking, err
}

// Reschedule moves a booked booking to start, under the same checks as Book.
func (c *Client) Reschedule(ctx context.Context, booking string, start time.Time, opts ...CallOption) (Booking, error) {
	return c.change(ctx, "reschedule", booking, proto.RescheduleRequest{Booking: booking, Start: start}, opts)
}

// Cancel cancels a booked booking; reason is optional free text.
func (c *Client) Cancel(ctx context.Context, booking, reason string, opts ...CallOption) (Booking, error) {
	return c.change(ctx, "cancel", booking, proto.BookingRequest{Booking: booking, Reason: reason}, opts)
}

// NoShow marks a booking whose start has passed as missed (staff).
func (c *Client) NoShow(ctx context.Context, booking, reason string, opts ...CallOption) (Booking, error) {
	return c.change(ctx, "no_show", booking, proto.BookingRequest{Booking: booking, Reason: reason}, opts)
}

// CheckIn checks a booking in, on its day only.
func (c *Client) CheckIn(ctx context.Context, booking string, opts ...CallOption) (Booking, error) {
	return c.change(ctx, "check_in", booking, proto.BookingRequest{Booking: booking}, opts)
}

// Progress posts a stage of a checked-in booking.
func (c *Client) Progress(ctx context.Context, r ProgressRequest, opts ...CallOption) (Booking, error) {
	return c.change(ctx, "progress", r.Booking, r, opts)
}

// Complete completes a checked-in booking (staff) and schedules its survey.
func (c *Client) Complete(ctx context.Context, booking string, opts ...CallOption) (Booking, error) {
	return c.change(ctx, "complete", booking, proto.BookingRequest{Booking: booking}, opts)
}

// Survey answers a completed booking's survey: score 1-5 and a comment.
func (c *Client) Survey(ctx context.Context, booking string, score int, comment string, opts ...CallOption) (Booking, error) {
	return c.change(ctx, "survey", booking, proto.SurveyRequest{Booking: booking, Score: score, Comment: comment}, opts)
}

// GetBooking reads one booking.
func (c *Client) GetBooking(ctx context.Context, booking string, opts ...CallOption) (BookingDetail, error) {
	return call[BookingDetail](ctx, c, "booking", "get", proto.BookingRequest{Booking: booking}, opts...)
}

// ListBookings reads a customer's bookings from a date on.
func (c *Client) ListBookings(ctx context.Context, r ListBookingsRequest, opts ...CallOption) (BookingList, error) {
	return call[BookingList](ctx, c, "booking", "list", r, opts...)
}

// Board reads one day's bookings (staff); date "" is today.
func (c *Client) Board(ctx context.Context, date string, opts ...CallOption) (Board, error) {
	return call[Board](ctx, c, "booking", "board", proto.BoardRequest{Date: date}, opts...)
}

// Changes reads the change feed after seq after, at most limit (0: the
// store's page size); ask again from the last seq until it reaches Last.
func (c *Client) Changes(ctx context.Context, after uint64, limit int, opts ...CallOption) (ChangePage, error) {
	return call[ChangePage](ctx, c, "booking", "changes", proto.ChangesRequest{After: after, Limit: limit}, opts...)
}

// ProfilePut stores a profile for a customer (desks and staff name the
// customer; customers pass ""): without an ID it creates one.
func (c *Client) ProfilePut(ctx context.Context, customer string, p Profile, opts ...CallOption) (Profile, error) {
	a, err := call[proto.ProfileAnswer](ctx, c, "booking", "profile_put", proto.ProfilePutRequest{Customer: customer, Profile: p}, opts...)
	return a.Profile, err
}

// ProfileList reads a customer's profiles.
func (c *Client) ProfileList(ctx context.Context, customer string, opts ...CallOption) ([]Profile, error) {
	a, err := call[proto.ProfilesAnswer](ctx, c, "booking", "profile_list", proto.ProfileRequest{Customer: customer}, opts...)
	return a.Profiles, err
}

// ProfileDelete deletes a customer's profile; false when there was none.
func (c *Client) ProfileDelete(ctx context.Context, customer, profile string, opts ...CallOption) (bool, error) {
	a, err := call[proto.DeletedAnswer](ctx, c, "booking", "profile_delete", proto.ProfileRequest{Customer: customer, Profile: profile}, opts...)
	return a.Deleted, err
}

// OnBookingChanges calls h for every booking change (staff). Changes come
// at least once, in seq order: key them by Seq, and catch up with Changes
// after a reconnect.
func (c *Client) OnBookingChanges(ctx context.Context, h func(Change)) error {
	return onJSON(ctx, c, proto.BookingStaffTopic, func(_ string, ch Change) { h(ch) })
}

// OnCustomerBookings calls h for every change of a customer's bookings
// (the customer's own login).
func (c *Client) OnCustomerBookings(ctx context.Context, customer string, h func(Change)) error {
	return onJSON(ctx, c, proto.BookingCustomerTopic(customer), func(_ string, ch Change) { h(ch) })
}
