# e1071 nu-SVR references at a tight tolerance (1e-9 instead of libsvm's default 1e-3), where
# libsvm's SMO converges to the exact optimum that radiogenomics.omics.nusvr solves in the primal.
# Same inputs and CIBERSORT-style core as the e1071 part of reference.R.  Run in this folder:
#   Rscript reference_deconv_tight.R
# Writes ref_deconv_tight.csv (the deconvolution output) and ref_nusvr_tight.csv (the raw fit of
# every sample and nu: weights before clipping, intercept = -rho).
suppressPackageStartupMessages(library(e1071))
sig <- read.delim("deconv_signature.txt", row.names = 1, check.names = FALSE)
mix <- as.matrix(read.csv("deconv_mixture.csv", row.names = 1, check.names = FALSE))
X <- as.matrix(sig); X <- (X - mean(X)) / sd(as.vector(X))
out <- NULL
raw <- NULL
for (j in seq_len(ncol(mix))) {
  y <- mix[rownames(X), j]; y <- (y - mean(y)) / sd(y)
  best <- NULL
  for (nu in c(0.25, 0.5, 0.75)) {
    m <- svm(X, y, type = "nu-regression", kernel = "linear", nu = nu, scale = FALSE, tolerance = 1e-9)
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
write.csv(out, "ref_deconv_tight.csv", row.names = FALSE)
write.csv(raw, "ref_nusvr_tight.csv", row.names = FALSE)
