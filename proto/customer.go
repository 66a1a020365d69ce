package proto

import "time"

// Customer cards (svc/customer, PROTOCOL.md "Customers"). A card is what
// the store knows of a customer; her pets and babies are her booking
// profiles (svc/booking/profile_*), listed with the card, not copied into
// it. Cards are sealed at rest.

// CustomerCard is a customer's card. Notes and Tags are for staff: a customer
// reading her own card does not get them.
type CustomerCard struct {
	Customer string   `json:"customer"`
	Name     string   `json:"name,omitempty"` // name or nickname
	Phone    string   `json:"phone,omitempty"`
	Notes    string   `json:"notes,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	// Consent: she agreed to receive messages (offers, reminders by SMS).
	Consent bool `json:"consent"`
	// Rev counts the card's changes: 0 for a customer without a card.
	// card_put names the rev it read; another rev is conflict.
	Rev     int        `json:"rev"`
	Updated *time.Time `json:"updated,omitempty"`
	// Forgotten: she asked the store to forget her ("forget me").
	Forgotten bool `json:"forgotten,omitempty"`
	// AliasOf: this id was merged into that one (staff merge).
	AliasOf string `json:"alias_of,omitempty"`
	// Aliases: the ids merged into this one.
	Aliases []string `json:"aliases,omitempty"`
}

// CardRequest names a customer; a customer leaves it out (her own).
type CardRequest struct {
	Customer string `json:"customer,omitempty"`
}

// CardAnswer is a card with the customer's booking profiles and counts.
type CardAnswer struct {
	Card     CustomerCard `json:"card"`
	Profiles []Profile    `json:"profiles"`
}

// CardPutRequest replaces a card (staff). Rev is the rev read (0 = none).
type CardPutRequest struct {
	Customer string   `json:"customer"`
	Rev      int      `json:"rev"`
	Name     string   `json:"name"`
	Phone    string   `json:"phone"`
	Notes    string   `json:"notes"`
	Tags     []string `json:"tags"`
	Consent  bool     `json:"consent"`
}

// MePutRequest is a customer setting her own name, phone and consent.
type MePutRequest struct {
	Name    string `json:"name"`
	Phone   string `json:"phone"`
	Consent bool   `json:"consent"`
}

// NamesRequest asks the names of customer ids (staff, for the console).
type NamesRequest struct {
	Customers []string `json:"customers"`
}

// NamesAnswer maps each id asked to what to show: the card's name, the
// name of the id it was merged into, "(forgotten)", or "" (no name).
type NamesAnswer struct {
	Names map[string]string `json:"names"`
}

// RevokeAnswer says how many logins of the customer ended.
type RevokeAnswer struct {
	Customer string `json:"customer"`
	Ended    int    `json:"ended"`
}

// MergeRequest: From and Into are one person; From becomes an alias of Into.
type MergeRequest struct {
	From string `json:"from"`
	Into string `json:"into"`
}

// ForgetAnswer is what "forget me" erased and the counts the store keeps.
type ForgetAnswer struct {
	Customer string `json:"customer"`
	Messages int    `json:"messages"` // her conversation's messages, bodies erased
	Bookings int    `json:"bookings"` // her bookings, notes and contacts erased
	Profiles int    `json:"profiles"` // profiles deleted
}

// ForgottenName is what staff see for a customer who was forgotten.
const ForgottenName = "(forgotten)"
