# Reference immune scores on bk_expr.csv.gz (decoupleR bk_data subset, log2 scale):
#  * ESTIMATE: GSVA ssgsea (tau 0.25, unnormalised) of the stromal/immune signatures on the
#    ESTIMATE common genes, ESTIMATEScore = sum, purity = cos(0.6049872018 + 0.0001467884 x score)
#    (GSVA's tie convention; the ESTIMATE package's own output is in tests/data/estimate_original)
#  * IPS: the immunophenogram procedure of Charoentong et al. 2017 as in icbi-lab's IPS script
#    (written anew here, not copied): per-sample z-scores over all genes, mean z per IPS feature x
#    weight, class means over positions 1:10 (MHC), 11:20 (CP), 21:24 (EC), 25:26 (SC), AZ = sum,
#    IPS = 0 if AZ <= 0, 10 if AZ >= 3, else round(AZ * 10 / 3).
# Run in this folder: Rscript reference_immune.R
suppressPackageStartupMessages(library(GSVA))
bk <- as.matrix(read.csv("bk_expr.csv.gz", row.names = 1, check.names = FALSE))
l <- strsplit(readLines("../../../../data_catalog/signatures/estimate_SI_geneset.gmt"), "\t")
est <- setNames(lapply(l, function(x) unique(x[-(1:2)])), sapply(l, `[`, 1))
common <- read.delim("../../../../data_catalog/signatures/estimate_common_genes.txt")$GeneSymbol
x <- bk[rownames(bk) %in% common, ]
s <- gsva(x, est, method = "ssgsea", tau = 0.25, ssgsea.norm = FALSE, verbose = FALSE)
out <- data.frame(StromalScore = s["StromalSignature", ], ImmuneScore = s["ImmuneSignature", ])
out$ESTIMATEScore <- out$StromalScore + out$ImmuneScore
out$TumorPurity <- cos(0.6049872018 + 0.0001467884 * out$ESTIMATEScore)
write.csv(out, "ref_estimate_bk.csv")

g <- read.delim("../../../../data_catalog/signatures/ips_genes.txt", stringsAsFactors = FALSE)
feats <- unique(g$NAME)
# PANC1 cells lack most immune genes: give the missing IPS genes the profiles of randomly drawn
# other genes (seed 4) so every IPS feature is defined; the matrix is written for the Python test
set.seed(4)
miss <- setdiff(unique(g$GENE), rownames(bk))
donors <- sample(setdiff(rownames(bk), g$GENE), length(miss))
extra <- bk[donors, , drop = FALSE]; rownames(extra) <- miss
bk <- rbind(bk, extra)
con <- gzfile("ips_input.csv.gz", "w"); write.csv(bk, con); close(con)
res <- NULL
for (j in seq_len(ncol(bk))) {
  v <- bk[, j]
  z <- (v[g$GENE] - mean(v)) / sd(v)          # NA for genes absent from the data
  mig <- sapply(feats, function(f) mean(z[g$NAME == f], na.rm = TRUE))
  w <- sapply(feats, function(f) mean(g$WEIGHT[g$NAME == f]))
  wg <- mig * w
  mhc <- mean(wg[1:10]); cp <- mean(wg[11:20]); ec <- mean(wg[21:24]); sc <- mean(wg[25:26])
  az <- mhc + cp + ec + sc
  score <- if (az <= 0) 0 else if (az >= 3) 10 else round(az * 10 / 3)
  res <- rbind(res, data.frame(sample = colnames(bk)[j], MHC = mhc, CP = cp, EC = ec, SC = sc, AZ = az, IPS = score))
}
write.csv(res, "ref_ips_bk.csv", row.names = FALSE)
