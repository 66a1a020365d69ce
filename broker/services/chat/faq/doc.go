// Package faq holds the chat service's FAQ assistant: it matches customers'
// Chinese and English messages against the questions in faq.yaml, answers the
// confident ones, hands off to staff on request, and knows the store's
// business hours and staff quick replies.
//
// It is a pure library with no MQTT or storage: the chat service calls
// Answer for each customer message, sends Reply.Text marked as automatic, and
// stops calling it for a conversation once a Reply has Kind Handoff. Outside
// business hours it sends AfterHours' text and queues the conversation for
// when the store opens.
//
// Matching normalises text (full-width to half-width, lower case, ASCII and
// CJK punctuation removed), splits Latin text into words (with plural
// stemming and stop words) and CJK text into overlapping character bigrams,
// and scores every intent with IDF weights computed at Load (index.go). An
// answer is given only above match.threshold and match.margin ahead of the
// runner-up; a health intent needs match.health_threshold and one of its
// keywords whole, made mostly of words no other health intent uses. Close
// calls and two questions in one get Kind Ask (buttons with the candidate
// questions) instead of a guess, or are left to staff when health is among
// them. Health intents get care steps and when to see a doctor, never a
// diagnosis, and always end with health_notice.
//
// testdata/eval holds the evaluation set (README, "The assistant's
// evaluation"); BenchmarkAssistantEval prints its figures.
package faq
