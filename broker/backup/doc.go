// Package backup writes and reads the store's backup archive: one file
// holding a consistent snapshot of the database, the seal keys and the
// configuration files the box runs on, encrypted as a whole, and the daily
// backups the daemon keeps.
//
// # What is in an archive
//
//   - storeedge.db: the database as one read transaction sees it (bbolt's
//     Tx.WriteTo), taken beside the broker's writes without stopping them
//     (except a commit that must grow bbolt's memory map: it waits for
//     the read to end).
//     The media (photos, voice notes, clips) are part of it: broker/blob
//     keeps every blob, sealed, in the database's media_blobs and
//     media_pages buckets, so the snapshot holds exactly the blobs the
//     messages in it refer to, and none that were half uploaded after it.
//   - seal.keys: the keys that open the sealed records (services.keys_file
//     or the variable of services.keys_env), in the keys file's format.
//   - config/NN-NAME: each configuration file the box read (store.yaml, the
//     device registry, the ACL, services, FAQ, the cloud map, TLS files),
//     its original path in the manifest.
//   - manifest.json, last: the format, store id, time, software and schema
//     version, the bbolt transaction, the number of keys in each top-level
//     bucket, and the size and SHA-256 of every other member.
//
// The members are a tar stream (uncompressed: the media in it are sealed,
// so they would not compress).
//
// # Encryption
//
// There is no unencrypted archive. The file is
//
//	storeedge-backup 1\n
//	passphrase BASE64\n        (only when made with a passphrase)
//	\n
//	AGE FILE
//
// where AGE FILE is an age (age-encryption.org/v1) file of the tar stream,
// encrypted to X25519 recipients: HQ's public key (backup.recipient,
// age1…) when one is set, and the archive's own key when a passphrase is
// set. The archive's own key is made afresh for each archive and kept only
// on the passphrase line: an age file of the key's secret (AGE-SECRET-KEY-1…)
// encrypted with the passphrase (scrypt), base64. age does not let a
// passphrase share a file with public keys, which is why the passphrase
// opens a key instead of the file. Both pieces are standard age files, so
// `age -d` can open an archive by hand: the passphrase line's base64 to
// get the key, then the rest of the file with that key (or with HQ's).
//
// Restore reads an archive twice: the first pass decrypts it and checks
// every member against the manifest without writing anything; the second
// writes the members under temporary names, checks them again and only
// then puts them in place.
package backup
