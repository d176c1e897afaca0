# Persistent R worker for tests/benchmarks/_harness.py.  Protocol on stdin: a line with the
# number of code lines N, then N lines of R code, evaluated in the global environment.
# Reply on stdout: the code's own output, then one line "@@RG@@ OK <seconds>" (wall time of
# the evaluation alone, measured in R around the call) or "@@RG@@ ERR <message>".
con <- file("stdin")
open(con)
repeat {
  n <- suppressWarnings(as.integer(readLines(con, n = 1)))
  if (length(n) == 0 || is.na(n)) break
  code <- paste(readLines(con, n = n), collapse = "\n")
  reply <- tryCatch({
    expr <- parse(text = code)
    t0 <- Sys.time()
    eval(expr, envir = .GlobalEnv)
    sprintf("@@RG@@ OK %.6f", as.numeric(difftime(Sys.time(), t0, units = "secs")))
  }, error = function(e) paste("@@RG@@ ERR", gsub("[\r\n]+", " ", conditionMessage(e))))
  cat("\n", reply, "\n", sep = "")
  flush(stdout())
}
