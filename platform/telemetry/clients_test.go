package telemetry

import "testing"

// A database span is named after what its statement does: bunotel names every raw
// statement's span SELECT, inserts and updates included.
func TestStatementVerb(t *testing.T) {
	for q, want := range map[string]string{
		"SELECT number FROM factorials":            "SELECT",
		"\n\t\tupdate factorials SET status = ?":   "UPDATE",
		"INSERT INTO factorials (number) VALUES ?": "INSERT",
		"WITH claimed AS (UPDATE …) SELECT 1":      "WITH",
		"(SELECT 1) UNION ALL (SELECT 2)":          "query",
		"DELETE":                                   "DELETE",
		"   ":                                      "query",
	} {
		if got := statementVerb(q); got != want {
			t.Errorf("statementVerb(%q) = %q, want %q", q, got, want)
		}
	}
}
