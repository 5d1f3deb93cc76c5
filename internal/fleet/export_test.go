package fleet

// ItemsDigest is the digest the listing records for a users object (tests only).
var ItemsDigest = itemsDigest

// AccountsAtOnce is how many accounts one list call reads (tests only).
const AccountsAtOnce = accountsAtOnce
