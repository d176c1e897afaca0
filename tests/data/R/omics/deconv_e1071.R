# CIBERSORT-style core on e1071 nu-SVR (linear kernel, nu 0.25/0.5/0.75, best by RMSE), shared by
# reference.R (libsvm's default tolerance 1e-3) and reference_deconv_tight.R (1e-9).
#   deconv_e1071(sig_file, mix_file, tolerance = 1e-3)
# sig_file: tab-separated genes x cell types; mix_file: CSV genes x samples (linear scale).
# Returns list(out = the deconvolution output (one row per sample: fractions, nu, correlation,
# rmse), raw = the raw fit of every sample and nu (weights before clipping, intercept = -rho)).
suppressPackageStartupMessages(library(e1071))
deconv_e1071 <- function(sig_file, mix_file, tolerance = 1e-3) {
  sig <- read.delim(sig_file, row.names = 1, check.names = FALSE)
  mix <- as.matrix(read.csv(mix_file, row.names = 1, check.names = FALSE))
  X <- as.matrix(sig); X <- (X - mean(X)) / sd(as.vector(X))
  out <- NULL
  raw <- NULL
  for (j in seq_len(ncol(mix))) {
    y <- mix[rownames(X), j]; y <- (y - mean(y)) / sd(y)
    best <- NULL
    for (nu in c(0.25, 0.5, 0.75)) {
      m <- svm(X, y, type = "nu-regression", kernel = "linear", nu = nu, scale = FALSE, tolerance = tolerance)
      w <- as.vector(t(m$coefs) %*% m$SV)
      raw <- rbind(raw, data.frame(sample = colnames(mix)[j], nu = nu, t(setNames(w, colnames(X))),
                                   intercept = -m$rho, check.names = FALSE))
      w[w < 0] <- 0; w <- w / sum(w)
      k <- as.vector(X %*% w)
      rmse <- sqrt(mean((k - y)^2)); r <- cor(k, y)
      if (is.null(best) || rmse < best$rmse) best <- list(w = w, rmse = rmse, r = r, nu = nu)
    }
    out <- rbind(out, data.frame(sample = colnames(mix)[j], t(setNames(best$w, colnames(X))), nu = best$nu,
                                 correlation = best$r, rmse = best$rmse, check.names = FALSE))
  }
  list(out = out, raw = raw)
}
