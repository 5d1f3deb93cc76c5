package fleet

// ItemsDigest is the digest the listing records for a users object (tests only).
var ItemsDigest = itemsDigest
