package main

// Placeholder until the command is built; delete this file when it is.
var cmdRules = notYet("rules")
