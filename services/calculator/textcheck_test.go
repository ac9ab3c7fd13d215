package calculator

import (
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

func factorialText(n int64) string {
	return new(big.Int).MulRange(1, n).String()
}

func TestDigitCountAndResidueMatchMathBig(t *testing.T) {
	m := big.NewInt(mersenne61)
	for _, n := range []int64{0, 1, 2, 5, 10, 24, 25, 100, 125, 999, 1000, 3125, 10000, 19999, 20000, 20001, 25000} {
		f := new(big.Int).MulRange(1, n)
		if n < 2 {
			f.SetInt64(1)
		}
		if got := DigitCount(n); got != int64(len(f.String())) {
			t.Errorf("DigitCount(%d) = %d, want %d", n, got, len(f.String()))
		}
		if got, want := FactorialMod(n), new(big.Int).Mod(f, m).Uint64(); got != want {
			t.Errorf("FactorialMod(%d) = %d, want %d", n, got, want)
		}
	}
}

// The check catches an engine that writes a wrong number, whatever chunks it writes in.
func TestTextCheck(t *testing.T) {
	good := factorialText(100)
	tests := []struct {
		name    string
		text    string
		digits  int64
		stored  int64
		wantErr string
	}{
		{name: "right text passes", text: good},
		{name: "a trailing zero lost", text: good[:len(good)-1], wantErr: "is wrong"},
		{name: "one digit changed", text: good[:len(good)-25] + "1" + good[len(good)-24:], wantErr: "is wrong"},
		{name: "two digits swapped", text: good[:40] + good[41:42] + good[40:41] + good[42:], wantErr: "is wrong"},
		{name: "not digits", text: strings.Replace(good, "3", "x", 1), wantErr: "other than digits"},
		{name: "a colon (one past 9)", text: good[:50] + ":" + good[51:], wantErr: "other than digits"},
		{name: "a slash (one before 0)", text: good[:17] + "/" + good[18:], wantErr: "other than digits"},
		{name: "a digit with its high bit set", text: good[:33] + "\xb5" + good[34:], wantErr: "other than digits"},
		{name: "a space at the end", text: good[:len(good)-1] + " ", wantErr: "other than digits"},
		{name: "leading zero", text: "0" + good[1:], wantErr: "starts with a zero"},
		{name: "engine miscounts", text: good, digits: int64(len(good)) + 1, wantErr: "reported"},
		{name: "store lost bytes", text: good, stored: int64(len(good)) - 1, wantErr: "store holds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{1, 7, 8, 13, 1000} {
				c := newTextCheck()
				for i := 0; i < len(tt.text); i += chunk {
					p := []byte(tt.text[i:min(i+chunk, len(tt.text))])
					if n, err := c.Write(p); n != len(p) || err != nil {
						t.Fatalf("Write of %d bytes: %d, %v; want all written (an io.Writer)", len(p), n, err)
					}
				}
				digits, stored := tt.digits, tt.stored
				if digits == 0 {
					digits = int64(len(tt.text))
				}
				if stored == 0 {
					stored = int64(len(tt.text))
				}
				_, err := c.verify(100, digits, stored)
				if tt.wantErr == "" && err != nil {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
					t.Fatalf("chunk %d: error %v, want %q", chunk, err, tt.wantErr)
				}
			}
		})
	}
}

// The word-at-a-time check and parse agree with the byte-at-a-time ones on every byte at
// every position, and on random words.
func TestEightDigits(t *testing.T) {
	check := func(b [8]byte) {
		t.Helper()
		digits, value := true, uint64(0)
		for _, c := range b {
			if c < '0' || c > '9' {
				digits = false
			}
			value = value*10 + uint64(c-'0')
		}
		v := binary.LittleEndian.Uint64(b[:])
		if got := eightDigits(v); got != digits {
			t.Fatalf("eightDigits(%q) = %v, want %v", b[:], got, digits)
		}
		if digits && parseEight(v) != value {
			t.Fatalf("parseEight(%q) = %d, want %d", b[:], parseEight(v), value)
		}
	}
	base := [8]byte{'1', '2', '3', '4', '5', '6', '7', '8'}
	for pos := range 8 {
		for c := range 256 {
			b := base
			b[pos] = byte(c)
			check(b)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		var b [8]byte
		for i := range b {
			b[i] = '0' + byte(rng.IntN(10))
			if rng.IntN(50) == 0 {
				b[i] = byte(rng.IntN(256))
			}
		}
		check(b)
	}
}
