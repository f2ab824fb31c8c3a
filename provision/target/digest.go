package target

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
)

// FileSHA256 is the SHA-256 of the file at path, in hex: what a target
// checks a binary it installs on a host by (the ssh target against
// sha256sum on the machine), and what a crm build is named by (its first
// 12 digits are the release apply deploys).
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
