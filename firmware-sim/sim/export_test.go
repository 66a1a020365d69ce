package sim

// MiddayZone is middayZone, for the tests' own catalogues.
var MiddayZone = middayZone
