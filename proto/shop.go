package proto

// The shop's editable catalogue, hours and closures: svc/booking/catalog.get,
// catalog.set and closure.add/remove/list (PROTOCOL.md, "The shop: catalogue,
// hours and closures").

// Reasons in the details of a catalogue or closure refusal.
const (
	ReasonStaleVersion    = "stale_version"     // catalog.set edited an older version
	ReasonStrands         = "strands"           // the change strands bookings; resend with confirm
	ReasonInvalid         = "invalid"           // the catalogue breaks a rule; details.errors lists each
	ReasonTooManyClosures = "too_many_closures" // booking.max_closures closures are ahead
	ReasonUnknownClosure  = "unknown_closure"
)

// Week holds "HH:MM-HH:MM" opening intervals per weekday; an interval whose
// close is not after its open runs past midnight. A day without intervals
// is closed.
type Week struct {
	Mon []string `json:"mon,omitempty"`
	Tue []string `json:"tue,omitempty"`
	Wed []string `json:"wed,omitempty"`
	Thu []string `json:"thu,omitempty"`
	Fri []string `json:"fri,omitempty"`
	Sat []string `json:"sat,omitempty"`
	Sun []string `json:"sun,omitempty"`
}

// DateSpan is a date, or a range of dates when Until is set (both included),
// YYYY-MM-DD, with a name (a staff member's leave).
type DateSpan struct {
	Date  string `json:"date"`
	Until string `json:"until,omitempty"`
	Name  string `json:"name,omitempty"`
}

// Shifts are when a member of staff works, in the store's zone.
type Shifts struct {
	Weekly Week       `json:"weekly"`
	Closed []DateSpan `json:"closed,omitempty"`
}

// ShopResource is one table, room, pool or member of staff.
type ShopResource struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	Name   Text     `json:"name"`
	Skills []string `json:"skills,omitempty"`
	// Shifts, when set, bound when the resource is available; otherwise it
	// is whenever the store is open.
	Shifts *Shifts `json:"shifts,omitempty"`
}

// ShopService is one bookable service. Minutes is the customer's time,
// BufferMinutes the cleaning after it on the same resources; Price is in
// minor units (fen).
type ShopService struct {
	ID            string   `json:"id"`
	Name          Text     `json:"name"`
	Category      string   `json:"category"`
	Minutes       int      `json:"minutes"`
	BufferMinutes int      `json:"buffer_minutes,omitempty"`
	Price         int64    `json:"price"`
	Currency      string   `json:"currency"`
	Needs         []Need   `json:"needs"`
	Species       []string `json:"species,omitempty"`
	Sizes         []string `json:"sizes,omitempty"`
	BabyAgeMonths []int    `json:"baby_age_months,omitempty"`
}

// ShopCatalog is the editable catalogue: services, resources, opening hours
// and the booking settings. TimeZone is the store's and read-only (config).
type ShopCatalog struct {
	TimeZone           string         `json:"time_zone,omitempty"`
	Hours              Week           `json:"hours"`
	SlotStepMinutes    int            `json:"slot_step_minutes,omitempty"`
	HorizonDays        int            `json:"horizon_days,omitempty"`
	ReminderMinutes    []int          `json:"reminder_minutes,omitempty"`
	SurveyAfterMinutes int            `json:"survey_after_minutes,omitempty"`
	Stages             []string       `json:"stages,omitempty"`
	Resources          []ShopResource `json:"resources"`
	Services           []ShopService  `json:"services"`
}

// CatalogAnswer answers catalog.get and catalog.set: the catalogue and its
// version (catalog.set carries the version it edits).
type CatalogAnswer struct {
	Version uint64      `json:"version"`
	Catalog ShopCatalog `json:"catalog"`
	// Editable is true when the caller may change it (an admin).
	Editable bool          `json:"editable,omitempty"`
	Stranded []StrandedRef `json:"stranded,omitempty"` // kept anyway (confirm)
}

// CatalogSetRequest replaces the catalogue. Confirm accepts a change that
// strands bookings (they stay as they are, for staff to move).
type CatalogSetRequest struct {
	Version uint64      `json:"version"`
	Catalog ShopCatalog `json:"catalog"`
	Confirm bool        `json:"confirm,omitempty"`
}

// StrandedRef is a booking a change leaves without its service, a resource
// or its opening hours, or on a closed day.
type StrandedRef struct {
	Booking  string `json:"booking"`
	Customer string `json:"customer"`
	Service  string `json:"service"`
	Start    string `json:"start"`
	Why      string `json:"why"`
}

// Closure is a day or dates the store is closed (a holiday, a sick day).
type Closure struct {
	ID     string `json:"id"`
	Date   string `json:"date"`
	Until  string `json:"until,omitempty"`
	Reason Text   `json:"reason"`
	By     string `json:"by,omitempty"`
}

// ClosureAddRequest closes Date (through Until) for Reason.
type ClosureAddRequest struct {
	Date   string `json:"date"`
	Until  string `json:"until,omitempty"`
	Reason Text   `json:"reason"`
}

// ClosureAnswer answers closure.add: the closure and the bookings on its
// days, whose customers were told in their conversation.
type ClosureAnswer struct {
	Closure Closure `json:"closure"`
	// Affected are the first page_size of them, AffectedCount all.
	Affected      []StrandedRef `json:"affected"`
	AffectedCount int           `json:"affected_count"`
}

// ClosureRemoveRequest reopens the dates of a closure.
type ClosureRemoveRequest struct {
	Closure string `json:"closure"`
}

// ClosureList answers closure.list: the closures not yet over, by date.
type ClosureList struct {
	Closures []Closure `json:"closures"`
}
