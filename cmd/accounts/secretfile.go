package accounts

import "fmt"

// ReadSecretFile reads a secret from the file at path the way the
// accounts file's NAME_file fields do: a regular file of at most 64 KiB
// holding the secret alone (one trailing newline is fine), for a flag that
// takes a secret from a file as container platforms mount them. instead
// names what to use instead, for messages. No error holds the file's
// content.
func ReadSecretFile(path, instead string) (string, error) {
	v, msg := readSecret(path, instead)
	if msg != "" {
		return "", fmt.Errorf("%s %s", escape(path), msg)
	}
	if hasSpace(v) {
		return "", fmt.Errorf("%s holds white space or control characters beside the secret: the file holds the secret alone (one trailing newline is fine)", escape(path))
	}
	return v, nil
}
