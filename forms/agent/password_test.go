package agent

import (
	"bufio"
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestCheckPasswordPolicy(t *testing.T) {
	tests := []struct {
		name, pw string
		ok       bool
	}{
		{"long and uncommon", "violet-harbour-42-lantern", true},
		{"exactly 12", "k7#Lp2vQx9!z", true},
		{"12 multi-byte characters", "ñçéßøåæœπλжю", true},
		{"11 characters", "k7#Lp2vQx9!", false},
		{"empty", "", false},
		{"common", "password1234", false},
		{"common, other case", "PassWord1234", false},
		{"common keyboard walk", "qwertyuiop123", false},
		{"common season", "Summer2024!", false},
		{"common, long", "correcthorsebatterystaple", false},
		{"repeated", "aaaaaaaaaaaaaa", false},
		{"too long", strings.Repeat("x7", MaxPasswordLen), false},
		{"invalid UTF-8", "abcdefghijk\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPasswordPolicy(tt.pw)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckPasswordPolicy = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrWeakPassword) {
					t.Errorf("error %v does not wrap ErrWeakPassword", err)
				}
				if tt.pw != "" && strings.Contains(err.Error(), tt.pw) {
					t.Errorf("error contains the password")
				}
			}
		})
	}
}

func TestCommonPasswordList(t *testing.T) {
	sc := bufio.NewScanner(bytes.NewReader(commonPasswords))
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line != strings.ToLower(strings.TrimSpace(line)) {
			t.Fatalf("line %d %q is not trimmed lower case", n+1, line)
		}
		n++
	}
	if n < 3000 {
		t.Fatalf("%d common passwords, want at least 3000", n)
	}
}

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashPassword(t *testing.T) {
	const pw = "violet-harbour-42-lantern"
	h1, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !phc.MatchString(h1) {
		t.Fatalf("hash %q is not a PHC argon2id string", h1)
	}
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{pw, true}, {pw + " ", false}, {"", false}} {
		ok, err := verifyPassword(tc.pw, h1)
		if err != nil || ok != tc.want {
			t.Errorf("verify(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
}

func TestParseHashRejects(t *testing.T) {
	good, err := hashPassword("x", argonParams{memory: 64, time: 1, threads: 1, keyLen: 32, saltLen: 16})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	tests := map[string]string{
		"empty":         "",
		"bcrypt":        "$2a$10$abcdefghijklmnopqrstuu5zGHPtUdd2qY0pK6w4CeR9m7qjDZxiy",
		"argon2i":       strings.Replace(good, "argon2id", "argon2i", 1),
		"version":       strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":   strings.Join([]string{"", parts[1], parts[2], "m=99999999,t=1,p=1", parts[4], parts[5]}, "$"),
		"zero time":     strings.Join([]string{"", parts[1], parts[2], "m=64,t=0,p=1", parts[4], parts[5]}, "$"),
		"extra params":  strings.Join([]string{"", parts[1], parts[2], "m=64,t=1,p=1,x=2", parts[4], parts[5]}, "$"),
		"short key":     strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
		"bad base64":    strings.Join([]string{"", parts[1], parts[2], parts[3], "!!!!!!!!!!", parts[5]}, "$"),
		"missing field": strings.Join(parts[:5], "$"),
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := parseHash(h); !errors.Is(err, errBadHash) {
				t.Fatalf("parseHash = %v, want errBadHash", err)
			}
		})
	}
	if _, _, _, err := parseHash(good); err != nil {
		t.Fatalf("good hash: %v", err)
	}
}
