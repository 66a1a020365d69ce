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
	// ReasonOverlap: the customer already has a visit (booked or checked
	// in) at that time; details.booking is it. Repeat with
	// confirm_overlap to book anyway.
	ReasonOverlap = "overlap"
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
	// ConfirmOverlap books even when the customer already has a visit at
	// that time (without it: conflict, reason overlap).
	ConfirmOverlap bool `json:"confirm_overlap,omitempty"`
}

// RescheduleRequest moves a booking to Start, under the same checks as
// book.
type RescheduleRequest struct {
	Booking        string    `json:"booking"`
	Start          time.Time `json:"start"`
	ConfirmOverlap bool      `json:"confirm_overlap,omitempty"`
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

// BoardDaysRequest counts the bookings of Days days (0: 7) from From
// ("": today), for the board's week view (staff).
type BoardDaysRequest struct {
	From string `json:"from,omitempty"`
	Days int    `json:"days,omitempty"`
}

// BoardDay is one day of board_days: Bookings hold a place (booked,
// checked in or completed); Cancelled were cancelled or missed.
type BoardDay struct {
	Date      string `json:"date"`
	Bookings  int    `json:"bookings"`
	Cancelled int    `json:"cancelled"`
}

// BoardDays is the answer of board_days, one entry per day in order.
type BoardDays struct {
	Days []BoardDay `json:"days"`
}

// CustomersRequest finds the customers staff booked with a name or a
// phone (customers): Query is part of a name, or 3 or more digits of a
// phone.
type CustomersRequest struct {
	Query string `json:"query"`
}

// CustomerContact is a customer the desk knows by name and phone.
type CustomerContact struct {
	Customer string    `json:"customer"`
	Name     string    `json:"name,omitempty"`
	Phone    string    `json:"phone,omitempty"`
	Updated  time.Time `json:"updated"`
}

// Customers is the answer of customers, by name; More says there were
// more matches than the page holds.
type Customers struct {
	Customers []CustomerContact `json:"customers"`
	More      bool              `json:"more"`
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
	Customer string  `json:"customer"`
	Profile  Profile `json:"profile"`
}

// ProfilesAnswer is the answer of profile_list.
type ProfilesAnswer struct {
	Customer string    `json:"customer"`
	Profiles []Profile `json:"profiles"`
}

// DeletedAnswer is the answer of profile_delete.
type DeletedAnswer struct {
	Deleted bool `json:"deleted"`
}

// Answers. Times are in the store's zone, to the second. The fields of
// the answers the service builds as maps are in the order the service
// writes them (alphabetical).

// Text is a name in the store's two languages.
type Text struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// Need is one resource a service takes: a kind (groomer, table, room…)
// and, for staff, a skill.
type Need struct {
	Kind  string `json:"kind"`
	Skill string `json:"skill,omitempty"`
}

// Service is one bookable service of the catalogue. Species and Sizes
// limit a pet service; BabyAgeMonths is a baby service's [min, max] age.
type Service struct {
	ID            string   `json:"id"`
	Name          Text     `json:"name"`
	Category      string   `json:"category"` // pet, baby, other
	Minutes       int      `json:"minutes"`
	Price         int64    `json:"price"`
	Currency      string   `json:"currency"`
	Needs         []Need   `json:"needs"`
	Species       []string `json:"species,omitempty"`
	Sizes         []string `json:"sizes,omitempty"`
	BabyAgeMonths []int    `json:"baby_age_months,omitempty"`
}

// Catalogue is the answer of services: the services, the store's time
// zone, the progress stages and how many days ahead it books.
type Catalogue struct {
	HorizonDays int       `json:"horizon_days"`
	Services    []Service `json:"services"`
	Stages      []string  `json:"stages"`
	TimeZone    string    `json:"time_zone"`
	// Week is the opening hours of the next seven days, today first.
	Week []DayHours `json:"week,omitempty"`
}

// DayHours is one day's opening hours in the store's zone: Open holds
// intervals "09:30-21:00"; none means closed.
type DayHours struct {
	Date string   `json:"date"`
	Open []string `json:"open"`
}

// Slot is a bookable time, as availability and a conflict's alternatives
// give it.
type Slot struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// DaySlots are the free slots of one date, in order.
type DaySlots struct {
	Date  string `json:"date"`
	Slots []Slot `json:"slots"`
	// Closed is the reason when a closure closes the store that date.
	Closed *Text `json:"closed,omitempty"`
}

// Availability is the answer of availability: the free slots of a
// service, per day.
type Availability struct {
	Days    []DaySlots `json:"days"`
	Service string     `json:"service"`
}

// Booking is a booking as the store shows it. Notes, Contact and Reason
// (why it was cancelled or missed) are shown only to the customer, staff
// and the device that made it.
type Booking struct {
	ID          string          `json:"id"`
	Customer    string          `json:"customer"`
	Service     string          `json:"service"`
	ServiceName *Text           `json:"service_name,omitempty"`
	Start       time.Time       `json:"start"`
	End         time.Time       `json:"end"`
	Resources   []string        `json:"resources"`
	Status      string          `json:"status"`
	Stage       string          `json:"stage,omitempty"`
	Progress    []ProgressEntry `json:"progress,omitempty"`
	Profile     string          `json:"profile,omitempty"`
	Source      string          `json:"source"`
	By          string          `json:"by"`
	HQRequest   string          `json:"hq_request,omitempty"`
	Created     time.Time       `json:"created"`
	Updated     time.Time       `json:"updated"`
	Rev         int             `json:"rev"`
	Surveyed    bool            `json:"surveyed,omitempty"`
	Notes       string          `json:"notes,omitempty"`
	Contact     *Contact        `json:"contact,omitempty"`
	Reason      string          `json:"reason,omitempty"`
}

// ProgressEntry is one stage a booking went through.
type ProgressEntry struct {
	Stage string    `json:"stage"`
	TS    time.Time `json:"ts"`
	By    string    `json:"by"`
	Note  string    `json:"note,omitempty"`
	Photo string    `json:"photo,omitempty"`
}

// BookingAnswer is the answer of the ops on one booking.
type BookingAnswer struct {
	Booking Booking `json:"booking"`
}

// BookingDetail is the answer of get; staff also get the booking's profile
// and survey.
type BookingDetail struct {
	Booking Booking       `json:"booking"`
	Profile *Profile      `json:"profile,omitempty"`
	Survey  *SurveyAnswer `json:"survey,omitempty"`
}

// SurveyAnswer is a booking's answered survey.
type SurveyAnswer struct {
	Booking string    `json:"booking"`
	Score   int       `json:"score"`
	Comment string    `json:"comment,omitempty"`
	TS      time.Time `json:"ts"`
}

// BookingList is the answer of list: a customer's bookings; More says the
// store's page size cut it.
type BookingList struct {
	Bookings []Booking `json:"bookings"`
	Customer string    `json:"customer"`
	More     bool      `json:"more"`
}

// Board is the answer of board: one day's bookings, in start order.
type Board struct {
	Bookings []BoardEntry `json:"bookings"`
	Date     string       `json:"date"`
}

// BoardEntry is a booking on the board with its pet's or baby's profile.
// On the board the store gives the profile itself in place of its id, so
// Booking.Profile is empty here: use Profile.ID.
type BoardEntry struct {
	Booking
	Profile *Profile `json:"profile,omitempty"`
}

// Change types (Change.Type).
const (
	ChangeCreated        = "created"
	ChangeRescheduled    = "rescheduled"
	ChangeCancelled      = "cancelled"
	ChangeNoShow         = "no_show"
	ChangeCheckedIn      = "checked_in"
	ChangeProgress       = "progress"
	ChangeCompleted      = "completed"
	ChangeReminder       = "reminder"
	ChangeSurveyInvite   = "survey_invite"
	ChangeSurveyAnswered = "survey_answered"
	ChangeHQRejected     = "hq_rejected"
	// ChangeSnapshot carries a booking as it is now, in a snapshot for HQ
	// (Seq 0: not an entry of the change feed).
	ChangeSnapshot = "snapshot"
)

// Change is one change to a booking, numbered by the store's seq: an entry
// of the change feed, of booking/events and booking/customer/{customer}/events
// and of HQ's replica. It carries ids, codes, times and states, no personal
// data (notes, contacts, profiles and survey comments stay in the store).
type Change struct {
	V            int       `json:"v"`
	Seq          uint64    `json:"seq"`
	Type         string    `json:"type"`
	Booking      string    `json:"booking,omitempty"`
	Customer     string    `json:"customer,omitempty"`
	Service      string    `json:"service,omitempty"`
	Start        time.Time `json:"start,omitzero"`
	End          time.Time `json:"end,omitzero"`
	Status       string    `json:"status,omitempty"`
	Stage        string    `json:"stage,omitempty"`
	Resources    []string  `json:"resources,omitempty"`
	Source       string    `json:"source,omitempty"`
	By           string    `json:"by,omitempty"`
	Rev          int       `json:"rev,omitempty"`
	HQRequest    string    `json:"hq_request,omitempty"`
	Reason       string    `json:"reason,omitempty"` // hq_rejected: why (a details.reason)
	Reminder     string    `json:"reminder,omitempty"`
	Photo        string    `json:"photo,omitempty"`
	Score        int       `json:"score,omitempty"`
	Alternatives []Slot    `json:"alternatives,omitempty"`
	TS           time.Time `json:"ts"`
}

// ChangePage is the answer of changes: the feed after a seq; Last is the
// newest seq.
type ChangePage struct {
	Changes []Change `json:"changes"`
	Last    uint64   `json:"last"`
}
