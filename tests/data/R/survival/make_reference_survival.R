# Reference values for tests/models (radiogenomics.models) from R survival, maxstat,
# survminer and glmnet.  Run from this folder:  Rscript make_reference_survival.R
# Inputs (committed next to this script):
#   nsclc_clinical_input.csv  columns copied from the TCIA NSCLC Radiogenomics clinical CSV
#                             (NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv)
#   gse7390_input.csv         sksurv.datasets.load_breast_cancer() (GSE7390): t.tdm, e.tdm,
#                             the 76 gene columns, and a fixed 10-fold assignment (foldid)
# Outputs: ref_os_derived.csv, ref_nsclc_survival.csv, R_versions_survival.txt (read by tests/models/test_survival_vs_R.py, test_radscore.py).
suppressPackageStartupMessages({
  library(survival); library(maxstat); library(survminer); library(glmnet)
})
options(digits = 15)
wr <- function(df, name) write.csv(df, name, row.names = FALSE)

# ---------------------------------------------------------------- NSCLC clinical, OS
# OS: CT date -> date of death (Dead) or date of last known alive (Alive); event = Dead.
cl <- read.csv("nsclc_clinical_input.csv", stringsAsFactors = FALSE, check.names = FALSE)
ct <- as.Date(cl$ct_date, "%m/%d/%Y")
end <- as.Date(ifelse(cl$survival_status == "Dead", cl$date_death, cl$date_last_alive), "%m/%d/%Y")
cl$os_days <- as.numeric(end - ct)
cl$os_event <- as.integer(cl$survival_status == "Dead")
cl$pack_years <- suppressWarnings(as.numeric(cl$pack_years))
d <- cl[!is.na(cl$os_days), ]
wr(d[, c("case_id", "os_days", "os_event")], "ref_os_derived.csv")

rows <- list()
add <- function(analysis, term, statistic, value) {
  rows[[length(rows) + 1]] <<- data.frame(analysis = analysis, term = term, statistic = statistic,
                                          value = as.numeric(value))
}
# log-rank
for (g in c("gender", "histology")) {
  sd <- survdiff(Surv(os_days, os_event) ~ get(g), data = d)
  add(paste0("logrank:", g), "", "chisq", sd$chisq)
  add(paste0("logrank:", g), "", "p", pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE))
  lv <- sub("^get\\(g\\)=", "", names(sd$n))
  for (i in seq_along(lv)) {
    add(paste0("logrank:", g), lv[i], "observed", sd$obs[i])
    add(paste0("logrank:", g), lv[i], "expected", sd$exp[i])
  }
}
# Cox: multivariable (Efron and Breslow) and univariable
cox_rows <- function(fit, analysis) {
  s <- summary(fit)
  co <- s$coefficients; ci <- s$conf.int
  for (term in rownames(co)) {
    add(analysis, term, "coef", co[term, "coef"])
    add(analysis, term, "se", co[term, "se(coef)"])
    add(analysis, term, "HR", co[term, "exp(coef)"])
    add(analysis, term, "HR_lower", ci[term, "lower .95"])
    add(analysis, term, "HR_upper", ci[term, "upper .95"])
    add(analysis, term, "p", co[term, "Pr(>|z|)"])
  }
  add(analysis, "", "loglik", fit$loglik[2])
  add(analysis, "", "loglik_null", fit$loglik[1])
  add(analysis, "", "concordance", fit$concordance["concordance"])
}
cox_rows(coxph(Surv(os_days, os_event) ~ age + gender + histology, data = d), "cox_multi_efron")
cox_rows(coxph(Surv(os_days, os_event) ~ age + gender + histology, data = d, ties = "breslow"),
         "cox_multi_breslow")
cox_rows(coxph(Surv(os_days, os_event) ~ age, data = d), "cox_uni_age")
# predicted survival of the first three patients from the multivariable model (survfit.coxph)
fit_mv <- coxph(Surv(os_days, os_event) ~ age + gender + histology, data = d)
sf <- summary(survfit(fit_mv, newdata = d[1:3, ]), times = c(365.25, 1095.75, 1826.25))
for (j in 1:3) for (i in seq_along(sf$time))
  add("cox_predict", paste0(d$case_id[j], "@", format(sf$time[i])), "survival", sf$surv[i, j])
# tied event times (follow-up in whole 30-day months) separate Efron from Breslow
d$os_months <- floor(d$os_days / 30)
cox_rows(coxph(Surv(os_months, os_event) ~ age + gender, data = d), "cox_ties_efron")
cox_rows(coxph(Surv(os_months, os_event) ~ age + gender, data = d, ties = "breslow"), "cox_ties_breslow")
sd <- survdiff(Surv(os_months, os_event) ~ gender, data = d)
add("logrank_ties:gender", "", "chisq", sd$chisq)
# with tied times (months) survfit uses the Efron (or Breslow) baseline hazard of the fit
for (tie in c("efron", "breslow")) {
  fit_t <- coxph(Surv(os_months, os_event) ~ age + gender, data = d, ties = tie)
  sf <- summary(survfit(fit_t, newdata = d[1:3, ]), times = c(12, 36, 60))
  for (j in 1:3) for (i in seq_along(sf$time))
    add(paste0("cox_predict_ties_", tie), paste0(d$case_id[j], "@", format(sf$time[i])), "survival", sf$surv[i, j])
}
# C-index of raw continuous markers (higher = shorter survival)
add("cindex", "age", "C", concordance(Surv(os_days, os_event) ~ age, data = d, reverse = TRUE)$concordance)
dp <- d[!is.na(d$pack_years), ]
add("cindex", "pack_years", "C",
    concordance(Surv(os_days, os_event) ~ pack_years, data = dp, reverse = TRUE)$concordance)
# maximally selected log-rank cut-off (survminer, minprop 0.1)
for (v in c("age", "pack_years")) {
  dv <- d[!is.na(d[[v]]), c("os_days", "os_event", v)]
  cp <- surv_cutpoint(dv, time = "os_days", event = "os_event", variables = v, minprop = 0.1)
  add("maxstat", v, "cutpoint", cp$cutpoint[v, "cutpoint"])
  add("maxstat", v, "statistic", cp$cutpoint[v, "statistic"])
  add("maxstat", v, "n_high", sum(dv[[v]] > cp$cutpoint[v, "cutpoint"]))
}
# Kaplan-Meier at 1/3/5 years (log-type CI, survfit default)
km <- summary(survfit(Surv(os_days, os_event) ~ 1, data = d), times = c(365.25, 1095.75, 1826.25),
              extend = TRUE)
for (i in seq_along(km$time)) {
  add("km", format(km$time[i]), "survival", km$surv[i])
  add("km", format(km$time[i]), "lower", km$lower[i])
  add("km", format(km$time[i]), "upper", km$upper[i])
}
wr(do.call(rbind, rows), "ref_nsclc_survival.csv")

writeLines(c(R.version.string, paste("survival", packageVersion("survival")),
             paste("maxstat", packageVersion("maxstat")), paste("survminer", packageVersion("survminer"))),
           "R_versions_survival.txt")
