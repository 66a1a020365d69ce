package proto

import "time"

// Bookings: the ops of svc/booking (PROTOCOL.md, "Bookings"). Times on the
// wire are RFC 3339 with their offset; dates are "YYYY-MM-DD" days of the
// store's calendar.

// Booking statuses.
const (
	StatusBooked    = "booked"
	StatusCheckedIn = "checked_in"
	StatusCompleted = "completed"
	StatusCancelled = "cancelled"
	StatusNoShow    = "no_show"
)

// Reasons in a booking error's details: a client switches on these, not
// on the message.
const (
	ReasonBadTime         = "bad_time"        // a time is not RFC 3339 with an offset
	ReasonInPast          = "in_past"         // the start has passed
	ReasonBeyondHorizon   = "beyond_horizon"  // further ahead than horizon_days
	ReasonClosed          = "closed"          // the store is closed that day
	ReasonOutsideHours    = "outside_hours"   // not inside one opening interval
	ReasonTaken           = "taken"           // the resources are not free (conflict)
	ReasonUnknownService  = "unknown_service" // no such service in the catalogue
	ReasonUnknownBooking  = "unknown_booking"
	ReasonUnknownProfile  = "unknown_profile"
	ReasonNotYours        = "not_yours"        // another customer's booking or profile
	ReasonDoesNotFit      = "does_not_fit"     // the pet's size or the baby's age is not taken
	ReasonTooLong         = "too_long"         // a text field is over its limit
	ReasonWrongState      = "wrong_state"      // e.g. rescheduling a cancelled booking
	ReasonTooManyProfile  = "too_many"         // the customer has max_profiles profiles
	ReasonAlreadyAnswered = "already_answered" // the survey was answered
)

// AvailabilityRequest asks for the free slots of Service for Days days
// (0: one) from Date ("": today); Exclude is a booking being rescheduled,
// whose own slot counts as free.
type AvailabilityRequest struct {
	Service string `json:"service"`
	Date    string `json:"date,omitempty"`
	Days    int    `json:"days,omitempty"`
	Exclude string `json:"exclude,omitempty"`
}

// Contact is how the store reaches a customer who booked at a kiosk.
type Contact struct {
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// BookRequest books Service at Start (on the wire RFC 3339 with its
// offset, as time.Time marshals). Desks (kiosks) and staff name the
// Customer (their cust-… id when they have one: the booking's cards go to
// the conversation named after it); customers book for themselves. Notes
// and Contact are private to her, staff and the booking device. Source is
// for staff: staff (default), chat, kiosk, phone or walk_in.
type BookRequest struct {
	Service  string    `json:"service"`
	Start    time.Time `json:"start"`
	Customer string    `json:"customer,omitempty"`
	Profile  string    `json:"profile,omitempty"`
	Notes    string    `json:"notes,omitempty"`
	Contact  *Contact  `json:"contact,omitempty"`
	Source   string    `json:"source,omitempty"`
}

// RescheduleRequest moves a booking to Start, under the same checks as
// book.
type RescheduleRequest struct {
	Booking string    `json:"booking"`
	Start   time.Time `json:"start"`
}

// BookingRequest names a booking (cancel, no_show, check_in, complete,
// get); Reason is the optional free text of cancel and no_show.
type BookingRequest struct {
	Booking string `json:"booking"`
	Reason  string `json:"reason,omitempty"`
}

// ProgressRequest posts a stage of a checked-in booking, with an optional
// note and photo (a media hash).
type ProgressRequest struct {
	Booking string `json:"booking"`
	Stage   string `json:"stage"`
	Note    string `json:"note,omitempty"`
	Photo   string `json:"photo,omitempty"`
}

// SurveyRequest answers a completed booking's survey: Score 1-5.
type SurveyRequest struct {
	Booking string `json:"booking"`
	Score   int    `json:"score"`
	Comment string `json:"comment,omitempty"`
}

// ListBookingsRequest lists a customer's bookings from a date on.
type ListBookingsRequest struct {
	Customer string `json:"customer,omitempty"`
	From     string `json:"from,omitempty"`
}

// BoardRequest reads one day's bookings (staff); Date "" is today.
type BoardRequest struct {
	Date string `json:"date,omitempty"`
}

// ChangesRequest reads the change feed after seq After, at most Limit
// (0: the store's page size).
type ChangesRequest struct {
	After uint64 `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// Profile is a pet or a baby, owned by one customer. A pet needs Species;
// a baby needs BirthDate and has no species, breed, size or vaccination
// date. Updated is set by the store.
type Profile struct {
	ID   string `json:"id,omitempty"`
	Kind string `json:"kind"` // pet or baby
	Name string `json:"name"`
	// Pets.
	Species      string `json:"species,omitempty"` // dog, cat, …
	Breed        string `json:"breed,omitempty"`
	Size         string `json:"size,omitempty"` // small, medium, large
	VaccinatedOn string `json:"vaccinated_on,omitempty"`
	// Both. A baby's birth date is required (services fit by age).
	BirthDate   string   `json:"birth_date,omitempty"`
	Allergies   []string `json:"allergies,omitempty"`
	Temperament string   `json:"temperament,omitempty"` // "afraid of the dryer"
	Notes       string   `json:"notes,omitempty"`
	Updated     string   `json:"updated,omitempty"`
}

// ProfilePutRequest stores a profile (without an ID: a new one); desks
// and staff name the Customer.
type ProfilePutRequest struct {
	Customer string  `json:"customer,omitempty"`
	Profile  Profile `json:"profile"`
}

// ProfileRequest names a customer's profiles (profile_list) or one of
// them (profile_delete).
type ProfileRequest struct {
	Customer string `json:"customer,omitempty"`
	Profile  string `json:"profile,omitempty"`
}

// ProfileAnswer is the answer of profile_put.
type ProfileAnswer struct {
	Profile Profile `json:"profile"`
}

// ProfilesAnswer is the answer of profile_list.
type ProfilesAnswer struct {
	Profiles []Profile `json:"profiles"`
}

// DeletedAnswer is the answer of profile_delete.
type DeletedAnswer struct {
	Deleted bool `json:"deleted"`
}
