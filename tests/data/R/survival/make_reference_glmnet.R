# Reference values for tests/models (radiogenomics.models) from R survival, maxstat,
# survminer and glmnet.  Run from this folder:  Rscript make_reference_glmnet.R
# Inputs (committed next to this script):
#   nsclc_clinical_input.csv  columns copied from the TCIA NSCLC Radiogenomics clinical CSV
#                             (NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv)
#   gse7390_input.csv         sksurv.datasets.load_breast_cancer() (GSE7390): t.tdm, e.tdm,
#                             the 76 gene columns, and a fixed 10-fold assignment (foldid)
# Outputs: ref_glmnet_coef.csv, ref_glmnet_cv.csv, R_versions_glmnet.txt (read by tests/models/test_survival_vs_R.py, test_radscore.py).
suppressPackageStartupMessages({
  library(survival); library(maxstat); library(survminer); library(glmnet)
})
options(digits = 15)
wr <- function(df, name) write.csv(df, name, row.names = FALSE)

# ---------------------------------------------------------------- GSE7390 LASSO-Cox (glmnet)
b <- read.csv("gse7390_input.csv", check.names = FALSE)
genes <- setdiff(colnames(b), c("time", "event", "foldid"))
x <- as.matrix(b[, genes])
xs <- scale(x)  # z-scores with mean and sd (n - 1), as RadScore(standardize=True)
y <- Surv(b$time, b$event)
co <- list()
for (lam in c(0.02, 0.05, 0.1)) {
  for (kind in c("raw", "scaled")) {
    xx <- if (kind == "raw") x else xs
    fit <- glmnet(xx, y, family = "cox", lambda = lam, standardize = FALSE, thresh = 1e-14, maxit = 1e7)
    beta <- as.numeric(coef(fit))
    co[[length(co) + 1]] <- data.frame(lambda = lam, input = kind, feature = genes, coef = beta)
  }
}
wr(do.call(rbind, co), "ref_glmnet_coef.csv")
# cross-validation with a fixed fold assignment on the lambda path of the full (scaled) fit.
# At the smallest lambdas (p = 76 > 51 events) glmnet reports non-convergence of some fold
# fits; the tests compare only the first 20 lambdas, where every fit converges.
full <- glmnet(xs, y, family = "cox", standardize = FALSE, nlambda = 50, thresh = 1e-10, maxit = 1e6)
cv <- cv.glmnet(xs, y, family = "cox", lambda = full$lambda, foldid = b$foldid, standardize = FALSE,
                thresh = 1e-10, maxit = 1e6, type.measure = "deviance", grouped = TRUE)
wr(data.frame(lambda = cv$lambda, cvm = cv$cvm, cvsd = cv$cvsd,
              lambda_min = cv$lambda.min, lambda_1se = cv$lambda.1se), "ref_glmnet_cv.csv")
writeLines(c(R.version.string, paste("survival", packageVersion("survival")),
             paste("glmnet", packageVersion("glmnet"))), "R_versions_glmnet.txt")
