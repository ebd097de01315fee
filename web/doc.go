// Package web holds the embedded templates and static assets for every page
// Veil serves.
package web
