# Reference values for tests/test_shrinkage.py and tests/test_glasso.py.
#
# How to run (from the repository root; needs R >= 4.0 with the CRAN packages
# corpcor and glasso, e.g. `apt-get install r-base-core r-cran-corpcor r-cran-glasso`):
#
#     Rscript tests/reference/make_shrinkage_reference.R
#
# The script is deterministic: it simulates two small strictly positive data
# sets with a fixed seed, writes them with 17 significant digits, reads them
# back (so R and Python start from the very same numbers) and writes, next to
# this script:
#
#   shrinkage_x_<case>.csv          the compositions (rows = samples, no header)
#   shrinkage_<case>_<what>.csv     D x D matrices (no header), with <what> one of
#       shrink_pcor, shrink_precision        corpcor::pcor.shrink / invcov.shrink on clr data
#       fixed_pcor, fixed_precision          the same with lambda = 0.3, lambda.var = 0.2
#       bshrink_pcor, bshrink_precision      propr's basis shrinkage: cov.shrink(log(closed x)),
#                                            G B G, cor2pcor, and the pseudo-inverse of G B G
#       glasso_precision, glasso_pcor        glasso::glasso on S = Gamma + tr(Gamma) 11^T / D, Gamma
#                                            the clr covariance (divisor n - 1), penalty GLASSO_RHO,
#                                            diagonal penalised (R's default)
#   shrinkage_intensities.csv       lambda and lambda.var of every case and method
#
# Cases: "n20_d30" (n < D) and "n50_d10" (n > D). The Roman cups data are not
# used (third-party data that must not be committed).

suppressPackageStartupMessages({
  library(corpcor)
  library(glasso)
})

here <- local({
  args <- commandArgs(trailingOnly = FALSE)
  file <- sub("^--file=", "", args[grep("^--file=", args)])
  if (length(file) == 1) dirname(normalizePath(file)) else getwd()
})

GLASSO_RHO <- 0.3

write_matrix <- function(m, name) {
  m <- unclass(as.matrix(m))
  attributes(m) <- list(dim = dim(m))
  text <- apply(m, 1, function(row) paste(sprintf("%.17g", row), collapse = ","))
  writeLines(text, file.path(here, name))
}

read_matrix <- function(name) {
  unname(as.matrix(read.csv(file.path(here, name), header = FALSE)))
}

# Log-normal compositions with a few latent factors, so that parts are
# correlated and the partial correlations are not all near zero.
simulate <- function(n, d, n_factors) {
  loadings <- matrix(rnorm(d * n_factors), d, n_factors)
  scores <- matrix(rnorm(n * n_factors), n, n_factors)
  noise <- matrix(rnorm(n * d, sd = 0.5), n, d)
  means <- matrix(rnorm(d, sd = 1), n, d, byrow = TRUE)
  exp(means + scores %*% t(loadings) + noise)
}

clr <- function(x) {
  l <- log(x)
  l - rowMeans(l)
}

set.seed(20240501)
cases <- list(n20_d30 = c(20, 30, 3), n50_d10 = c(50, 10, 2))
intensities <- data.frame()
for (case in names(cases)) {
  shape <- cases[[case]]
  write_matrix(simulate(shape[1], shape[2], shape[3]), sprintf("shrinkage_x_%s.csv", case))
  x <- read_matrix(sprintf("shrinkage_x_%s.csv", case))
  d <- ncol(x)
  z <- clr(x)

  # Schafer-Strimmer shrinkage of the clr data, intensities estimated.
  pc <- pcor.shrink(z, verbose = FALSE)
  prec <- invcov.shrink(z, verbose = FALSE)
  write_matrix(pc, sprintf("shrinkage_%s_shrink_pcor.csv", case))
  write_matrix(prec, sprintf("shrinkage_%s_shrink_precision.csv", case))
  intensities <- rbind(intensities, data.frame(
    case = case, method = "shrink",
    lambda = sprintf("%.17g", attr(pc, "lambda")),
    lambda_var = sprintf("%.17g", attr(prec, "lambda.var"))
  ))

  # The same with intensities given by the user.
  pc <- pcor.shrink(z, lambda = 0.3, verbose = FALSE)
  prec <- invcov.shrink(z, lambda = 0.3, lambda.var = 0.2, verbose = FALSE)
  write_matrix(pc, sprintf("shrinkage_%s_fixed_pcor.csv", case))
  write_matrix(prec, sprintf("shrinkage_%s_fixed_precision.csv", case))

  # Basis shrinkage as in propr's basis_shrinkage(outtype = "clr").
  basis <- cov.shrink(log(x / rowSums(x)), verbose = FALSE)
  g <- diag(d) - matrix(1 / d, d, d)
  gbg <- g %*% basis %*% g
  write_matrix(cor2pcor(gbg), sprintf("shrinkage_%s_bshrink_pcor.csv", case))
  write_matrix(pseudoinverse(gbg), sprintf("shrinkage_%s_bshrink_precision.csv", case))
  intensities <- rbind(intensities, data.frame(
    case = case, method = "bshrink",
    lambda = sprintf("%.17g", attr(basis, "lambda")),
    lambda_var = sprintf("%.17g", attr(basis, "lambda.var"))
  ))

  # Graphical lasso on the clr covariance with the direction of the ones
  # vector filled by the total variance, S = Gamma + tr(Gamma) J / D (as
  # coda.pcor_glasso does), converged far below the test tolerance.
  gam <- cov(z)
  s <- gam + sum(diag(gam)) / d
  fit <- glasso(s, rho = GLASSO_RHO, penalize.diagonal = TRUE, thr = 1e-13, maxit = 1e5)
  write_matrix(fit$wi, sprintf("shrinkage_%s_glasso_precision.csv", case))
  omega <- (fit$wi + t(fit$wi)) / 2
  pc <- -omega / sqrt(outer(diag(omega), diag(omega)))
  diag(pc) <- 1
  write_matrix(pc, sprintf("shrinkage_%s_glasso_pcor.csv", case))
}
write.csv(intensities, file.path(here, "shrinkage_intensities.csv"), row.names = FALSE, quote = FALSE)
