package redis

// ParseClaimIdle parses the claim_idle parameter of a redis:// store URL.
var ParseClaimIdle = parseClaimIdle
